/**
 * A mergeable latency histogram: fixed log buckets (4 per doubling, ~19% wide) from 10 µs up,
 * stored as integer counts in a Redis hash, so windows from many devices and controller replicas
 * add up with HINCRBY. Devices send quantiles (p50/p95/p99/max) per window, not samples: each
 * window puts 50% of its inferences at its p50, 45% at its p95, 4% at its p99 and 1% at its max,
 * which reproduces a single device's quantiles exactly and merges devices by inference count.
 */
export const HIST_BUCKETS = 100
const BASE_MS = 0.01
const PER_DOUBLING = 4
/** Counts are stored ×100 so the 50/45/4/1 split stays integral. */
export const MASS_SCALE = 100
export const QUANTILE_MASS: readonly (readonly ['p50' | 'p95' | 'p99' | 'max', number])[] = [
  ['p50', 50],
  ['p95', 45],
  ['p99', 4],
  ['max', 1],
]

/** The bucket index of a latency in ms. */
export function histIndex(ms: number): number {
  if (!(ms > BASE_MS)) return 0
  return Math.min(HIST_BUCKETS - 1, Math.floor(PER_DOUBLING * Math.log2(ms / BASE_MS)))
}

/** The upper edge (ms) of bucket `i`. */
export function histUpperMs(i: number): number {
  return BASE_MS * 2 ** ((i + 1) / PER_DOUBLING)
}

/** The `q` quantile (0–1) of a histogram, as the upper edge of the bucket that holds it; null when empty. */
export function histQuantile(hist: readonly number[], q: number): number | null {
  let total = 0
  for (const c of hist) total += c
  if (total <= 0) return null
  const rank = q * total
  let seen = 0
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i] ?? 0
    if (seen >= rank && (hist[i] ?? 0) > 0) return histUpperMs(i)
  }
  return histUpperMs(hist.length - 1)
}
