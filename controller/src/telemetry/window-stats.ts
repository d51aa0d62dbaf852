import { HIST_BUCKETS, MASS_SCALE, histQuantile } from './histogram.js'

/** Telemetry folded over a span of time (one bucket, or several merged). Pure data. */
export interface WindowStats {
  /** Telemetry messages (device windows). */
  windows: number
  /** Distinct devices that reported (HyperLogLog estimate; a sum when merging buckets). */
  devices: number
  inferences: number
  errors: number
  /** Σ p50 × inferences, over windows that had a latency. */
  latencySum: number
  latencyInferences: number
  /** Σ average power (mW) over windows that reported energy. */
  powerSum: number
  powerWindows: number
  /** Highest temperature (°C); null when none was reported. */
  temperatureMax: number | null
  /** Highest memory use as a share of total (0–1); null when unknown. */
  memoryMax: number | null
  /** Sequence gaps (lost windows) seen. */
  gaps: number
  /** Latency histogram (×100 mass units). */
  hist: number[]
}

export function emptyStats(): WindowStats {
  return {
    windows: 0,
    devices: 0,
    inferences: 0,
    errors: 0,
    latencySum: 0,
    latencyInferences: 0,
    powerSum: 0,
    powerWindows: 0,
    temperatureMax: null,
    memoryMax: null,
    gaps: 0,
    hist: new Array<number>(HIST_BUCKETS).fill(0),
  }
}

function maxOf(a: number | null, b: number | null): number | null {
  if (a === null) return b
  if (b === null) return a
  return Math.max(a, b)
}

/** The sums a device's share of a bucket carries (see `DeviceShare`). */
export const SHARE_KEYS = ['windows', 'inferences', 'errors', 'latencySum', 'latencyInferences', 'powerSum', 'powerWindows'] as const
export type ShareSums = Pick<WindowStats, (typeof SHARE_KEYS)[number]>

/**
 * A bucket's stats narrowed to some devices: counts, errors, average latency and power become
 * theirs alone (from their shares); the latency histogram, temperature and memory maxima stay
 * those of everyone on the model version (they are not kept per device).
 */
export function narrowStats(all: WindowStats, shares: readonly ShareSums[]): WindowStats {
  const out: WindowStats = { ...all, devices: shares.length }
  for (const k of SHARE_KEYS) out[k] = shares.reduce((sum, d) => sum + d[k], 0)
  return out
}

/** Merge windows (sums and maxima; `devices` becomes the largest single-bucket count). */
export function mergeStats(list: readonly WindowStats[]): WindowStats {
  const out = emptyStats()
  for (const s of list) {
    out.windows += s.windows
    out.devices = Math.max(out.devices, s.devices)
    out.inferences += s.inferences
    out.errors += s.errors
    out.latencySum += s.latencySum
    out.latencyInferences += s.latencyInferences
    out.powerSum += s.powerSum
    out.powerWindows += s.powerWindows
    out.temperatureMax = maxOf(out.temperatureMax, s.temperatureMax)
    out.memoryMax = maxOf(out.memoryMax, s.memoryMax)
    out.gaps += s.gaps
    for (let i = 0; i < HIST_BUCKETS; i++) out.hist[i] = (out.hist[i] ?? 0) + (s.hist[i] ?? 0)
  }
  return out
}

/** Stats from a Redis bucket hash (see `WindowStore`). Unknown or malformed fields read as zero. */
export function statsFromHash(h: Record<string, string>, devices: number): WindowStats {
  const n = (k: string): number => {
    const v = Number(h[k] ?? 0)
    return Number.isFinite(v) ? v : 0
  }
  const s = emptyStats()
  s.windows = n('w')
  s.devices = devices
  s.inferences = n('i')
  s.errors = n('e')
  s.latencySum = n('ls')
  s.latencyInferences = n('li')
  s.powerSum = n('ps')
  s.powerWindows = n('pn')
  s.temperatureMax = h.tx === undefined ? null : n('tx')
  s.memoryMax = h.mx === undefined ? null : n('mx') / 1e6
  s.gaps = n('g')
  for (let i = 0; i < HIST_BUCKETS; i++) s.hist[i] = n(`h${i}`)
  return s
}

/** The metrics rules and dashboards read from window stats. */
export const METRICS = [
  'error_rate',
  'latency_avg',
  'latency_p95',
  'energy_avg',
  'temperature_max',
  'memory_used',
  'inference_rate',
] as const
export type WindowMetric = (typeof METRICS)[number]

/** A metric's value over `stats` and the sample size behind it; value null = no data. */
export function metricOf(metric: WindowMetric, s: WindowStats, spanMs: number): { value: number | null; samples: number } {
  switch (metric) {
    case 'error_rate':
      return { value: s.inferences > 0 ? s.errors / s.inferences : null, samples: s.inferences }
    case 'latency_avg':
      return { value: s.latencyInferences > 0 ? s.latencySum / s.latencyInferences : null, samples: s.latencyInferences }
    case 'latency_p95':
      return { value: histQuantile(s.hist, 0.95), samples: Math.round(s.hist.reduce((a, b) => a + b, 0) / MASS_SCALE) }
    case 'energy_avg':
      return { value: s.powerWindows > 0 ? s.powerSum / s.powerWindows : null, samples: s.powerWindows }
    case 'temperature_max':
      return { value: s.temperatureMax, samples: s.windows }
    case 'memory_used':
      return { value: s.memoryMax, samples: s.windows }
    case 'inference_rate':
      return { value: s.windows > 0 && spanMs > 0 ? (s.inferences * 1000) / spanMs : null, samples: s.windows }
  }
}
