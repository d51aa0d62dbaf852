import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  HISTOGRAM_BUCKETS,
  HISTOGRAM_MAX_MS,
  HISTOGRAM_MIN_MS,
  HISTOGRAM_RELATIVE_ERROR,
  LatencyStatsSchema,
  addLatency,
  averagePowerMw,
  emptyLatency,
  errorRate,
  histogramBucket,
  histogramValue,
  latencyMean,
  latencyQuantile,
  latencyStats,
  mergeLatency,
  type LatencyStats,
} from '@liquid-edge/protocol'

/** The exact nearest-rank quantile of raw samples. */
function exactQuantile(samples: readonly number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1] ?? NaN
}

/** Latencies over the whole guaranteed range, log-uniform so every order of magnitude is exercised. */
const latency = fc.double({ min: Math.log(HISTOGRAM_MIN_MS), max: Math.log(HISTOGRAM_MAX_MS), noNaN: true }).map(Math.exp)
/** Windows of several devices: each inner array is one device window's raw samples. */
const windows = fc.array(fc.array(latency, { minLength: 1, maxLength: 60 }), { minLength: 1, maxLength: 40 })
const QUANTILES = [0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1]
// Float rounding at a bucket edge may move a value into the neighbouring bucket, which is still within α(1 + ε).
const BOUND = HISTOGRAM_RELATIVE_ERROR * (1 + 1e-9)

/** What each device sends: its window's statistics, through JSON and the schema, as on the wire. */
function wire(samples: readonly number[]): LatencyStats {
  const acc = emptyLatency()
  for (const v of samples) addLatency(acc, v)
  const stats = latencyStats(acc)
  if (stats === null) throw new Error('a window with samples has stats')
  return LatencyStatsSchema.parse(JSON.parse(JSON.stringify(stats)))
}

describe('latency statistics', () => {
  it('merged windows give every quantile within the stated relative error of the exact quantile over all raw samples', () => {
    fc.assert(
      fc.property(windows, (ws) => {
        const merged = emptyLatency()
        for (const w of ws) mergeLatency(merged, wire(w))
        const all = ws.flat()
        for (const q of QUANTILES) {
          const exact = exactQuantile(all, q)
          const got = latencyQuantile(merged, q) ?? NaN
          expect(Math.abs(got - exact) / exact, `q=${q}: ${got} vs exact ${exact}`).toBeLessThanOrEqual(BOUND)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('merged windows give the exact count, minimum and maximum, and the mean to float precision', () => {
    fc.assert(
      fc.property(windows, (ws) => {
        const merged = emptyLatency()
        for (const w of ws) mergeLatency(merged, wire(w))
        const all = ws.flat()
        const mean = all.reduce((a, b) => a + b, 0) / all.length
        expect(merged.count).toBe(all.length)
        expect(merged.minMs).toBe(Math.min(...all))
        expect(merged.maxMs).toBe(Math.max(...all))
        expect(Math.abs((latencyMean(merged) ?? NaN) - mean) / mean).toBeLessThan(1e-12)
      }),
      { numRuns: 300 },
    )
  })

  it('merging is order-independent: any grouping of the windows gives the same histogram', () => {
    fc.assert(
      fc.property(windows, fc.integer({ min: 0, max: 39 }), (ws, cut) => {
        const flat = emptyLatency()
        for (const w of ws) mergeLatency(flat, wire(w))
        // Two partial merges (two controller replicas, two time buckets) merged again.
        const left = emptyLatency()
        const right = emptyLatency()
        ws.forEach((w, i) => {
          mergeLatency(i < cut ? left : right, wire(w))
        })
        const both = emptyLatency()
        mergeLatency(both, right)
        mergeLatency(both, left)
        expect(latencyStats(both)?.histogram).toEqual(latencyStats(flat)?.histogram)
        expect(both.count).toBe(flat.count)
      }),
      { numRuns: 200 },
    )
  })

  it('reads every value of a bucket back within the relative error', () => {
    fc.assert(
      fc.property(latency, (v) => {
        const back = histogramValue(histogramBucket(v))
        expect(Math.abs(back - v) / v).toBeLessThanOrEqual(BOUND)
      }),
      { numRuns: 2000 },
    )
  })

  it('bounds the histogram size: one hour of range in a fixed number of buckets', () => {
    expect(histogramBucket(HISTOGRAM_MAX_MS)).toBe(HISTOGRAM_BUCKETS - 1)
    expect(histogramBucket(HISTOGRAM_MAX_MS * 1000)).toBe(HISTOGRAM_BUCKETS - 1)
    expect(histogramBucket(0)).toBe(0)
    expect(HISTOGRAM_BUCKETS).toBeLessThan(1200)
  })

  it('refuses histograms whose buckets are unsorted, uneven or disagree with the count', () => {
    const good = wire([1, 2, 3])
    expect(LatencyStatsSchema.safeParse(good).success).toBe(true)
    const h = good.histogram
    const bad = [
      { ...good, histogram: { bins: [...h.bins].reverse(), counts: h.counts } },
      { ...good, histogram: { bins: h.bins, counts: h.counts.slice(1) } },
      { ...good, count: good.count + 1 },
      { ...good, minMs: 10, maxMs: 1 },
      { ...good, histogram: { bins: [HISTOGRAM_BUCKETS], counts: [3] } },
    ]
    for (const b of bad) expect(LatencyStatsSchema.safeParse(b).success, JSON.stringify(b)).toBe(false)
  })

  it('an empty accumulator has no statistics, quantiles or mean', () => {
    const acc = emptyLatency()
    expect(latencyStats(acc)).toBeNull()
    expect(latencyQuantile(acc, 0.5)).toBeNull()
    expect(latencyMean(acc)).toBeNull()
  })
})

describe('rates', () => {
  it('error rate is errors over attempts (failed ones included), unknown without attempts', () => {
    expect(errorRate({ inferences: 200, errors: 50 })).toBe(0.25)
    expect(errorRate({ inferences: 0, errors: 0 })).toBeNull()
  })

  it('average power is the energy over the measured time', () => {
    // 3 J over 10 s is 300 mW.
    expect(averagePowerMw(3, 10_000)).toBeCloseTo(300, 9)
    expect(averagePowerMw(0, 0)).toBeNull()
  })
})
