import {
  averagePowerMw,
  emptyLatency,
  errorRate,
  HISTOGRAM_LAST_BUCKET,
  latencyQuantile,
  mergeLatency,
  type LatencyAcc,
} from '@liquid-edge/protocol'

/**
 * Telemetry folded over a span of time (one bucket, or several merged): counts and sums, so that
 * merging is addition and every metric is exact (see the protocol's statistics module). Pure data.
 */
export interface WindowStats {
  /** Telemetry messages (device windows). */
  windows: number
  /** Distinct devices that reported (HyperLogLog estimate; the largest bucket's when merging buckets). */
  devices: number
  /** Inference attempts, failed ones included. */
  inferences: number
  errors: number
  /** Σ latency (ms) and the successful inferences it covers: the mean is their ratio. */
  latencySum: number
  latencyCount: number
  /** The latency histogram with its own count, sum, minimum and maximum. */
  latency: LatencyAcc
  /** Windows from older agents that sent quantiles only: their latency is approximate. */
  approximateWindows: number
  /** Energy measured (J) over `energyMs` (ms) by `energyWindows` windows: average power is exact. */
  energyJoules: number
  energyMs: number
  energyWindows: number
  /** Highest temperature (°C), the sum of readings and how many; max null when none was reported. */
  temperatureMax: number | null
  temperatureSum: number
  temperatureSamples: number
  /** Highest memory use as a share of total (0–1); null when unknown. */
  memoryMax: number | null
  /** Highest memory use, bytes; null when unknown. */
  memoryUsedMax: number | null
  /** Live inputs run on the previous model too, and how many of its answers matched. */
  compared: number
  agreed: number
  /** Evaluations on the package's labelled set: samples and correct answers. */
  evaluated: number
  correct: number
  /** Sequence gaps (lost windows) seen. */
  gaps: number
}

export function emptyStats(): WindowStats {
  return {
    windows: 0,
    devices: 0,
    inferences: 0,
    errors: 0,
    latencySum: 0,
    latencyCount: 0,
    latency: emptyLatency(),
    approximateWindows: 0,
    energyJoules: 0,
    energyMs: 0,
    energyWindows: 0,
    temperatureMax: null,
    temperatureSum: 0,
    temperatureSamples: 0,
    memoryMax: null,
    memoryUsedMax: null,
    compared: 0,
    agreed: 0,
    evaluated: 0,
    correct: 0,
    gaps: 0,
  }
}

function maxOf(a: number | null, b: number | null): number | null {
  if (a === null) return b
  if (b === null) return a
  return Math.max(a, b)
}

/** The sums a device's share of a bucket carries (see `DeviceShare`): what can be narrowed to some devices. */
export const SHARE_KEYS = [
  'windows',
  'inferences',
  'errors',
  'latencySum',
  'latencyCount',
  'approximateWindows',
  'energyJoules',
  'energyMs',
  'energyWindows',
  'compared',
  'agreed',
  'evaluated',
  'correct',
] as const
export type ShareSums = Pick<WindowStats, (typeof SHARE_KEYS)[number]>

/**
 * A bucket's stats narrowed to some devices: counts, errors, mean latency, energy, agreement and
 * evaluations become theirs alone (from their shares); the latency histogram, temperature and
 * memory stay those of everyone on the model version (they are not kept per device).
 */
export function narrowStats(all: WindowStats, shares: readonly ShareSums[]): WindowStats {
  const out: WindowStats = { ...all, devices: shares.length }
  for (const k of SHARE_KEYS) out[k] = shares.reduce((sum, d) => sum + d[k], 0)
  return out
}

/** Merge stats: sums add, maxima take the larger (`devices` becomes the largest single count). */
export function mergeStats(list: readonly WindowStats[]): WindowStats {
  const out = emptyStats()
  for (const s of list) {
    for (const k of SHARE_KEYS) out[k] += s[k]
    out.devices = Math.max(out.devices, s.devices)
    mergeLatency(out.latency, s.latency)
    out.temperatureMax = maxOf(out.temperatureMax, s.temperatureMax)
    out.temperatureSum += s.temperatureSum
    out.temperatureSamples += s.temperatureSamples
    out.memoryMax = maxOf(out.memoryMax, s.memoryMax)
    out.memoryUsedMax = maxOf(out.memoryUsedMax, s.memoryUsedMax)
    out.gaps += s.gaps
  }
  return out
}

/** Prefix of the histogram's bucket fields in a bucket hash (`b<index>`). */
export const HIST_PREFIX = 'b'

/** Hash fields of a bucket (see `WindowStore`); `b<i>` are the histogram's buckets. */
export const FIELD = {
  windows: 'w',
  inferences: 'i',
  errors: 'e',
  latencySum: 'ls',
  latencyCount: 'lc',
  latencyMin: 'ln',
  latencyMax: 'lx',
  approximateWindows: 'aw',
  energyJoules: 'ej',
  energyMs: 'em',
  energyWindows: 'ew',
  temperatureMax: 'tx',
  temperatureSum: 'ts',
  temperatureSamples: 'tn',
  memoryMax: 'mx',
  memoryUsedMax: 'mb',
  compared: 'ac',
  agreed: 'ag',
  evaluated: 'vs',
  correct: 'vc',
  gaps: 'g',
} as const

/**
 * Fields that hold sums of real numbers (HINCRBYFLOAT); every other field counts (HINCRBY). Chosen
 * by field, never by value: a float field that happens to receive a whole number must not get
 * HINCRBY, which Redis refuses on a field that holds a fraction.
 */
export const FLOAT_FIELDS: ReadonlySet<string> = new Set([FIELD.latencySum, FIELD.energyJoules, FIELD.energyMs, FIELD.temperatureSum])

/** Stats from a Redis bucket hash (see `WindowStore`). Unknown or malformed fields read as zero. */
export function statsFromHash(h: Record<string, string>, devices: number): WindowStats {
  const n = (k: string): number => {
    const v = Number(h[k] ?? 0)
    return Number.isFinite(v) ? v : 0
  }
  const maybe = (k: string): number | null => (h[k] === undefined ? null : n(k))
  const s = emptyStats()
  s.devices = devices
  for (const k of SHARE_KEYS) s[k] = n(FIELD[k])
  s.temperatureMax = maybe(FIELD.temperatureMax)
  s.temperatureSum = n(FIELD.temperatureSum)
  s.temperatureSamples = n(FIELD.temperatureSamples)
  const memoryMax = maybe(FIELD.memoryMax)
  s.memoryMax = memoryMax === null ? null : memoryMax / 1e6
  s.memoryUsedMax = maybe(FIELD.memoryUsedMax)
  s.gaps = n(FIELD.gaps)
  const lat = s.latency
  for (const [k, v] of Object.entries(h)) {
    if (!k.startsWith(HIST_PREFIX)) continue
    const b = Number(k.slice(1))
    const c = Number(v)
    if (!Number.isInteger(b) || b < 0 || b > HISTOGRAM_LAST_BUCKET || !(c > 0)) continue
    lat.buckets.set(b, c)
    lat.count += c
  }
  lat.sumMs = s.latencySum
  lat.minMs = lat.count > 0 ? (maybe(FIELD.latencyMin) ?? 0) : Infinity
  lat.maxMs = lat.count > 0 ? n(FIELD.latencyMax) : 0
  return s
}

/** The metrics rules and dashboards read from window stats. */
export const METRICS = [
  'error_rate',
  'latency_avg',
  'latency_p95',
  'latency_p99',
  'energy_avg',
  'temperature_max',
  'memory_used',
  'memory_bytes',
  'inference_rate',
  'agreement',
  'accuracy',
] as const
export type WindowMetric = (typeof METRICS)[number]

/** Metrics where a lower value is the breach (an accuracy below its minimum). */
export const LOWER_IS_WORSE: ReadonlySet<WindowMetric> = new Set(['agreement', 'accuracy'])

/** A metric's value over `stats` and the sample size behind it; value null = no data. */
export function metricOf(metric: WindowMetric, s: WindowStats, spanMs: number): { value: number | null; samples: number } {
  switch (metric) {
    case 'error_rate':
      return { value: errorRate(s), samples: s.inferences }
    case 'latency_avg':
      return { value: s.latencyCount > 0 ? s.latencySum / s.latencyCount : null, samples: s.latencyCount }
    case 'latency_p95':
      return { value: latencyQuantile(s.latency, 0.95), samples: s.latency.count }
    case 'latency_p99':
      return { value: latencyQuantile(s.latency, 0.99), samples: s.latency.count }
    case 'energy_avg':
      return { value: averagePowerMw(s.energyJoules, s.energyMs), samples: s.energyWindows }
    case 'temperature_max':
      return { value: s.temperatureMax, samples: s.temperatureSamples }
    case 'memory_used':
      return { value: s.memoryMax, samples: s.windows }
    case 'memory_bytes':
      return { value: s.memoryUsedMax, samples: s.windows }
    case 'inference_rate':
      return { value: s.windows > 0 && spanMs > 0 ? (s.inferences * 1000) / spanMs : null, samples: s.windows }
    case 'agreement':
      return { value: s.compared > 0 ? s.agreed / s.compared : null, samples: s.compared }
    case 'accuracy':
      return { value: s.evaluated > 0 ? s.correct / s.evaluated : null, samples: s.evaluated }
  }
}

/** Whether a metric over these stats rests on approximate windows (older agents' latency quantiles). */
export function isApproximate(metric: WindowMetric, s: WindowStats): boolean {
  return s.approximateWindows > 0 && (metric === 'latency_avg' || metric === 'latency_p95' || metric === 'latency_p99')
}
