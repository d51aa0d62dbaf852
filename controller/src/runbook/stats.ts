/** Small statistics for runbook summaries: quantiles, medians, robust outliers. Pure functions. */

export interface Spread {
  count: number
  mean: number
  p50: number
  p95: number
  p99: number
  max: number
  min: number
}

/** The q-quantile (nearest rank) of `values`; null when empty. */
export function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? null
}

export function median(values: readonly number[]): number | null {
  return quantile(values, 0.5)
}

export function spread(values: readonly number[]): Spread | null {
  if (values.length === 0) return null
  const q = (p: number): number => quantile(values, p) ?? 0
  return {
    count: values.length,
    mean: values.reduce((a, b) => a + b, 0) / values.length,
    p50: q(0.5),
    p95: q(0.95),
    p99: q(0.99),
    max: Math.max(...values),
    min: Math.min(...values),
  }
}

/** Group items by a key, keys sorted. */
export function groupBy<T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>()
  for (const it of items) {
    const k = key(it)
    const list = out.get(k)
    if (list === undefined) out.set(k, [it])
    else list.push(it)
  }
  return new Map([...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}

/**
 * Items whose value is far from the median: a robust z-score (MAD) above 3.5 and at least `minRelative`
 * away from the median (so a tight, noiseless fleet does not flag tiny differences). Needs 3 values.
 */
export function outliers<T>(
  items: readonly T[],
  value: (t: T) => number,
  minRelative = 0.25,
): { item: T; value: number; median: number; score: number }[] {
  if (items.length < 3) return []
  const values = items.map(value)
  const m = median(values) ?? 0
  const mad = median(values.map((v) => Math.abs(v - m))) ?? 0
  const scale = 1.4826 * mad
  const out: { item: T; value: number; median: number; score: number }[] = []
  items.forEach((item, i) => {
    const v = values[i] ?? 0
    const dist = Math.abs(v - m)
    const score = scale > 0 ? dist / scale : dist > 0 ? Infinity : 0
    if (score > 3.5 && dist > minRelative * Math.abs(m)) out.push({ item, value: v, median: m, score })
  })
  return out.sort((a, b) => b.score - a.score)
}

export function round(v: number | null, digits = 4): number | null {
  if (v === null || !Number.isFinite(v)) return v
  const f = 10 ** digits
  return Math.round(v * f) / f
}
