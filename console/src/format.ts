/** How long ago `at` was, in the largest sensible unit ("4 s ago", "3 min ago"); "never" for null. */
export function age(at: number | null, now: number): string {
  if (at === null) return 'never'
  const s = Math.max(0, Math.round((now - at) / 1000))
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86_400)} d ago`
}

/** A duration in ms as "1 h 5 min", "30 s", "250 ms". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = Math.round(ms / 1000)
  const parts: string[] = []
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  if (h > 0) parts.push(`${h} h`)
  if (m > 0) parts.push(`${m} min`)
  if (s % 60 > 0 && h === 0) parts.push(`${s % 60} s`)
  return parts.join(' ')
}

/** A clock time (local, 24 h) with seconds. */
export function clock(at: number): string {
  return new Date(at).toLocaleTimeString([], { hour12: false })
}

/** A figure of a metric in its unit; "—" when unknown. */
export function figure(value: number | null, metric: string): string {
  if (value === null) return '—'
  if (metric.includes('rate') && metric !== 'inference_rate') return `${(value * 100).toFixed(value < 0.01 ? 2 : 1)}%`
  if (metric.startsWith('latency')) return `${value.toFixed(value < 10 ? 2 : 1)} ms`
  if (metric.startsWith('energy') || metric === 'power') return `${value.toFixed(1)} mW`
  if (metric.startsWith('temperature')) return `${value.toFixed(1)} °C`
  if (metric === 'memory_used') return `${(value * 100).toFixed(0)}%`
  return Number.isInteger(value) ? String(value) : value.toFixed(2)
}

/** A step of a rollout as the operator typed it: "25%", "10 devices", "canary: a, b". */
export function stepLabel(s: { percent: number } | { count: number } | { devices: string[] }): string {
  if ('percent' in s) return `${s.percent}%`
  if ('count' in s) return `${s.count} devices`
  return s.devices.length <= 3 ? s.devices.join(', ') : `${s.devices.length} named devices`
}

/** Labels as `k=v` text. */
export function labelText(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')
}
