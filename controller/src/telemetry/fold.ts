import { histogramBucket, type TelemetryBody } from '@liquid-edge/protocol'
import { FIELD, HIST_PREFIX, type ShareSums } from './window-stats.js'

/** One telemetry message ready to fold: receive time, device, body. */
export interface FoldItem {
  deviceId: string
  at: number
  body: TelemetryBody
}

/** Share fields in the per-device hash (`<device>|<code>`), one letter each to keep the hash small. */
export const SHARE_CODES = {
  n: 'windows',
  i: 'inferences',
  e: 'errors',
  l: 'latencySum',
  m: 'latencyCount',
  a: 'approximateWindows',
  j: 'energyJoules',
  t: 'energyMs',
  w: 'energyWindows',
  c: 'compared',
  g: 'agreed',
  v: 'evaluated',
  k: 'correct',
} as const satisfies Record<string, keyof ShareSums>
export type ShareCode = keyof typeof SHARE_CODES
/** Share codes that hold sums of real numbers (HINCRBYFLOAT); the others count (HINCRBY). */
export const FLOAT_SHARES: ReadonlySet<ShareCode> = new Set(['l', 'j', 't'])

/** What one batch adds to one bucket of one cohort and hardware class. */
export interface BucketAcc {
  /** Field increments (counts, sums, histogram buckets). */
  add: Map<string, number>
  /** Smallest and largest values seen per field (`<` minimum, `>` maximum). */
  min: Map<string, number>
  max: Map<string, number>
  devices: Set<string>
  /** Per-device share increments, by `<device>|<code>`. */
  shares: Map<string, number>
}

export function emptyBucketAcc(): BucketAcc {
  return { add: new Map(), min: new Map(), max: new Map(), devices: new Set(), shares: new Map() }
}

function inc(m: Map<string, number>, f: string, v: number): void {
  if (v !== 0) m.set(f, (m.get(f) ?? 0) + v)
}
function lower(m: Map<string, number>, f: string, v: number): void {
  const cur = m.get(f)
  if (cur === undefined || v < cur) m.set(f, v)
}
function higher(m: Map<string, number>, f: string, v: number): void {
  const cur = m.get(f)
  if (cur === undefined || v > cur) m.set(f, v)
}

/**
 * An older agent's window carries latency quantiles only: its successful inferences are put at
 * them (50 % at p50, 45 % at p95, 4 % at p99, 1 % at the maximum) and its sum at p50 × count.
 * The window is counted as approximate, and the evidence says so.
 */
function foldQuantiles(
  acc: BucketAcc,
  q: NonNullable<TelemetryBody['latencyMs']>,
  n: number,
  share: (c: ShareCode, v: number) => void,
): void {
  const c99 = Math.round(0.04 * n)
  const cMax = Math.round(0.01 * n)
  const c95 = Math.round(0.45 * n)
  const parts: [number, number][] = [
    [q.p50, n - c95 - c99 - cMax],
    [q.p95, c95],
    [q.p99, c99],
    [q.max, cMax],
  ]
  for (const [v, c] of parts) inc(acc.add, `${HIST_PREFIX}${histogramBucket(v)}`, c)
  inc(acc.add, FIELD.latencySum, q.p50 * n)
  inc(acc.add, FIELD.latencyCount, n)
  inc(acc.add, FIELD.approximateWindows, 1)
  // The smallest latency is not known; it is at most the median.
  lower(acc.min, FIELD.latencyMin, q.p50)
  higher(acc.max, FIELD.latencyMax, q.max)
  share('l', q.p50 * n)
  share('m', n)
  share('a', 1)
}

function foldLatency(acc: BucketAcc, b: TelemetryBody, share: (c: ShareCode, v: number) => void): void {
  const s = b.latency
  if (s !== undefined && s !== null) {
    const { bins, counts } = s.histogram
    for (let k = 0; k < bins.length; k++) inc(acc.add, `${HIST_PREFIX}${bins[k] ?? 0}`, counts[k] ?? 0)
    inc(acc.add, FIELD.latencySum, s.sumMs)
    inc(acc.add, FIELD.latencyCount, s.count)
    lower(acc.min, FIELD.latencyMin, s.minMs)
    higher(acc.max, FIELD.latencyMax, s.maxMs)
    share('l', s.sumMs)
    share('m', s.count)
    return
  }
  const successes = b.inferences - b.errors
  if (b.latencyMs != null && successes > 0) foldQuantiles(acc, b.latencyMs, successes, share)
}

function foldEnergy(acc: BucketAcc, b: TelemetryBody, share: (c: ShareCode, v: number) => void): void {
  const e = b.energy
  if (e === null) return
  // Older agents send the average power only: it was measured over their window.
  const ms = e.measuredMs ?? b.windowMs
  const joules = e.joules ?? (e.avgMw * ms) / 1e6
  inc(acc.add, FIELD.energyJoules, joules)
  inc(acc.add, FIELD.energyMs, ms)
  inc(acc.add, FIELD.energyWindows, 1)
  share('j', joules)
  share('t', ms)
  share('w', 1)
}

function foldSensors(acc: BucketAcc, b: TelemetryBody): void {
  const t = b.temperature ?? (b.temperatureC === null ? null : { maxC: b.temperatureC, meanC: b.temperatureC, samples: 1 })
  if (t !== null) {
    higher(acc.max, FIELD.temperatureMax, t.maxC)
    inc(acc.add, FIELD.temperatureSum, t.meanC * t.samples)
    inc(acc.add, FIELD.temperatureSamples, t.samples)
  }
  const m = b.memory
  if (m !== null) {
    higher(acc.max, FIELD.memoryUsedMax, m.usedBytes)
    if (m.totalBytes !== null && m.totalBytes > 0) higher(acc.max, FIELD.memoryMax, Math.round((m.usedBytes / m.totalBytes) * 1e6))
  }
}

/** Add one window to a bucket's accumulator: the whole fold of one message, in memory. */
export function accumulate(acc: BucketAcc, it: FoldItem): void {
  const b = it.body
  const share = (c: ShareCode, v: number): void => {
    inc(acc.shares, `${it.deviceId}|${c}`, v)
  }
  inc(acc.add, FIELD.windows, 1)
  inc(acc.add, FIELD.inferences, b.inferences)
  inc(acc.add, FIELD.errors, b.errors)
  share('n', 1)
  share('i', b.inferences)
  share('e', b.errors)
  foldLatency(acc, b, share)
  foldEnergy(acc, b, share)
  foldSensors(acc, b)
  if (b.agreement !== undefined) {
    inc(acc.add, FIELD.compared, b.agreement.compared)
    inc(acc.add, FIELD.agreed, b.agreement.agreed)
    share('c', b.agreement.compared)
    share('g', b.agreement.agreed)
  }
  if (b.evaluation !== undefined) {
    inc(acc.add, FIELD.evaluated, b.evaluation.samples)
    inc(acc.add, FIELD.correct, b.evaluation.correct)
    share('v', b.evaluation.samples)
    share('k', b.evaluation.correct)
  }
  acc.devices.add(it.deviceId)
}
