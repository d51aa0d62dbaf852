/**
 * The one statistics module of Liquid Edge: how a device summarises its inference latencies so
 * that windows of many devices and many intervals add up exactly, and how anyone reads them back.
 *
 * A latency summary is a count, a sum (so a mean is a true mean), the minimum, the maximum and a
 * histogram over fixed logarithmic buckets (the DDSketch mapping with one global index, so every
 * device, the controller and any consumer use the same buckets). Merging is addition: counts and
 * sums add, minima and maxima take the smaller and the larger. A quantile read from a histogram is
 * within {@link HISTOGRAM_RELATIVE_ERROR} (1 %) of the exact quantile of all the raw samples that
 * went into it — whatever windows, devices or order they came in — for latencies between
 * {@link HISTOGRAM_MIN_MS} and {@link HISTOGRAM_MAX_MS}.
 *
 * Pure data and functions (zod only): the functions that add to an accumulator change it in place.
 */
import * as z from 'zod'
import { CountSchema, MeasureSchema } from './primitives.js'

/** Largest relative error of a quantile read from a latency histogram (1 %). */
export const HISTOGRAM_RELATIVE_ERROR = 0.01
/** Ratio between the upper edges of neighbouring buckets: (1 + α) / (1 − α). */
export const HISTOGRAM_GAMMA = (1 + HISTOGRAM_RELATIVE_ERROR) / (1 - HISTOGRAM_RELATIVE_ERROR)
/** Latencies at or below this (1 µs) share bucket 0 and read back as 1 µs. */
export const HISTOGRAM_MIN_MS = 0.001
/** Latencies above this (one hour) share the last bucket (its quantiles read back as the exact maximum). */
export const HISTOGRAM_MAX_MS = 3_600_000

const LN_GAMMA = Math.log(HISTOGRAM_GAMMA)
/** Index of the last bucket (latencies above {@link HISTOGRAM_MAX_MS} land in it too). */
export const HISTOGRAM_LAST_BUCKET = Math.ceil(Math.log(HISTOGRAM_MAX_MS / HISTOGRAM_MIN_MS) / LN_GAMMA)
/** Number of buckets (indices 0 … {@link HISTOGRAM_LAST_BUCKET}); bounds every histogram's size. */
export const HISTOGRAM_BUCKETS = HISTOGRAM_LAST_BUCKET + 1

/** The bucket a latency (ms) falls in: 0 for ≤ 1 µs, else ⌈log_γ(ms / 1 µs)⌉, capped at the last bucket. */
export function histogramBucket(ms: number): number {
  if (!(ms > HISTOGRAM_MIN_MS)) return 0
  return Math.min(HISTOGRAM_LAST_BUCKET, Math.ceil(Math.log(ms / HISTOGRAM_MIN_MS) / LN_GAMMA))
}

/**
 * The value a bucket reads back as, ms: for bucket i ≥ 1, covering (γ^(i−1), γ^i] µs, the point
 * 2γ^i / (γ + 1) µs, within α of every value in the bucket.
 */
export function histogramValue(bucket: number): number {
  if (bucket <= 0) return HISTOGRAM_MIN_MS
  return (HISTOGRAM_MIN_MS * 2 * HISTOGRAM_GAMMA ** bucket) / (HISTOGRAM_GAMMA + 1)
}

/**
 * A latency histogram on the wire: the non-empty buckets only, as two parallel arrays in
 * ascending bucket order (`bins[k]` holds `counts[k]` inferences).
 */
export const HistogramSchema = z
  .object({
    bins: z
      .array(z.number().int().min(0).max(HISTOGRAM_LAST_BUCKET))
      .max(HISTOGRAM_BUCKETS)
      .describe(`Indices of the non-empty buckets, strictly ascending, 0 to ${HISTOGRAM_LAST_BUCKET}.`),
    counts: z.array(CountSchema.min(1)).max(HISTOGRAM_BUCKETS).describe('Inferences in each bucket of bins (count, at least 1).'),
  })
  .describe(
    'Log-scale latency histogram: bucket 0 holds latencies up to 1 µs, bucket i ≥ 1 those in (γ^(i−1), γ^i] µs with γ = 1.01/0.99; a quantile read from it is within 1 % of the exact one.',
  )
export type Histogram = z.output<typeof HistogramSchema>

/** Latency of a window's successful inferences: enough to merge windows exactly. */
export const LatencyStatsSchema = z
  .object({
    count: CountSchema.min(1).describe('Successful inferences the statistics cover (count, at least 1).'),
    sumMs: MeasureSchema.describe('Sum of their latencies in milliseconds: sumMs ÷ count is the mean.'),
    minMs: MeasureSchema.describe('Smallest latency in milliseconds.'),
    maxMs: MeasureSchema.describe('Largest latency in milliseconds.'),
    histogram: HistogramSchema,
  })
  .superRefine((s, ctx) => {
    const { bins, counts } = s.histogram
    if (bins.length !== counts.length) {
      ctx.addIssue({ code: 'custom', path: ['histogram', 'counts'], message: "'bins' and 'counts' must have the same length" })
      return
    }
    let total = 0
    for (let k = 0; k < bins.length; k++) {
      if (k > 0 && (bins[k] ?? 0) <= (bins[k - 1] ?? 0)) {
        ctx.addIssue({ code: 'custom', path: ['histogram', 'bins', k], message: "'bins' must be strictly ascending" })
        return
      }
      total += counts[k] ?? 0
    }
    if (total !== s.count)
      ctx.addIssue({ code: 'custom', path: ['histogram', 'counts'], message: `histogram counts add up to ${total}, not count ${s.count}` })
    if (s.minMs > s.maxMs) ctx.addIssue({ code: 'custom', path: ['minMs'], message: "'minMs' must not exceed 'maxMs'" })
  })
  .describe('Latency of the successful inferences of a window, mergeable by addition (see the protocol statistics module).')
export type LatencyStats = z.output<typeof LatencyStatsSchema>

/** A latency accumulator: wire stats in memory, buckets as a map from index to count. */
export interface LatencyAcc {
  count: number
  sumMs: number
  /** `Infinity` while empty. */
  minMs: number
  maxMs: number
  buckets: Map<number, number>
}

export function emptyLatency(): LatencyAcc {
  return { count: 0, sumMs: 0, minMs: Infinity, maxMs: 0, buckets: new Map() }
}

/** Add one latency sample (ms). Non-finite or negative values are ignored. */
export function addLatency(acc: LatencyAcc, ms: number): void {
  if (!(ms >= 0) || !Number.isFinite(ms)) return
  const b = histogramBucket(ms)
  acc.buckets.set(b, (acc.buckets.get(b) ?? 0) + 1)
  acc.count++
  acc.sumMs += ms
  if (ms < acc.minMs) acc.minMs = ms
  if (ms > acc.maxMs) acc.maxMs = ms
}

/** Merge stats (from the wire or another accumulator) into `acc`: merging is addition. */
export function mergeLatency(acc: LatencyAcc, s: LatencyStats | LatencyAcc): void {
  if (s.count === 0) return
  acc.count += s.count
  acc.sumMs += s.sumMs
  if (s.minMs < acc.minMs) acc.minMs = s.minMs
  if (s.maxMs > acc.maxMs) acc.maxMs = s.maxMs
  if ('histogram' in s) {
    const { bins, counts } = s.histogram
    for (let k = 0; k < bins.length; k++) {
      const b = bins[k] ?? 0
      acc.buckets.set(b, (acc.buckets.get(b) ?? 0) + (counts[k] ?? 0))
    }
  } else {
    for (const [b, c] of s.buckets) acc.buckets.set(b, (acc.buckets.get(b) ?? 0) + c)
  }
}

/** The wire form of an accumulator; `null` when it holds no sample. */
export function latencyStats(acc: LatencyAcc): LatencyStats | null {
  if (acc.count === 0) return null
  const bins = [...acc.buckets.keys()].filter((b) => (acc.buckets.get(b) ?? 0) > 0).sort((a, b) => a - b)
  return {
    count: acc.count,
    sumMs: acc.sumMs,
    minMs: acc.minMs,
    maxMs: acc.maxMs,
    histogram: { bins, counts: bins.map((b) => acc.buckets.get(b) ?? 0) },
  }
}

/** The mean latency (ms): sum ÷ count; `null` when empty. */
export function latencyMean(s: LatencyStats | LatencyAcc): number | null {
  return s.count > 0 ? s.sumMs / s.count : null
}

/**
 * The `q` quantile (0–1) in ms: the value of the bucket holding the sample of rank ⌈q·n⌉ (nearest
 * rank), clamped to the exact minimum and maximum; `null` when empty. Within
 * {@link HISTOGRAM_RELATIVE_ERROR} of the exact nearest-rank quantile of the samples.
 */
export function latencyQuantile(acc: LatencyAcc, q: number): number | null {
  if (acc.count === 0) return null
  const rank = Math.max(1, Math.ceil(Math.min(1, Math.max(0, q)) * acc.count))
  const bins = [...acc.buckets.keys()].sort((a, b) => a - b)
  let seen = 0
  for (const b of bins) {
    seen += acc.buckets.get(b) ?? 0
    if (seen >= rank) return Math.min(acc.maxMs, Math.max(acc.minMs, histogramValue(b)))
  }
  return acc.maxMs
}

/** p50/p95/p99/max of an accumulator (the quantile summary windows also carry); `null` when empty. */
export function latencyQuantiles(acc: LatencyAcc): { p50: number; p95: number; p99: number; max: number } | null {
  if (acc.count === 0) return null
  return {
    p50: latencyQuantile(acc, 0.5) ?? 0,
    p95: latencyQuantile(acc, 0.95) ?? 0,
    p99: latencyQuantile(acc, 0.99) ?? 0,
    max: acc.maxMs,
  }
}

/**
 * The error rate, the one definition everywhere: failed inference attempts ÷ attempts (telemetry's
 * `inferences` counts attempts, failed ones included); `null` without attempts.
 */
export function errorRate(s: { inferences: number; errors: number }): number | null {
  return s.inferences > 0 ? Math.min(1, s.errors / s.inferences) : null
}

/** Average power in mW from energy (J) measured over a duration (ms); `null` when nothing was measured. */
export function averagePowerMw(joules: number, measuredMs: number): number | null {
  return measuredMs > 0 ? (joules * 1e6) / measuredMs : null
}
