import fc from 'fast-check'
import type { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  HISTOGRAM_MAX_MS,
  HISTOGRAM_MIN_MS,
  HISTOGRAM_RELATIVE_ERROR,
  addLatency,
  emptyLatency,
  latencyQuantile,
  latencyQuantiles,
  latencyStats,
  type TelemetryBody,
} from '@liquid-edge/protocol'
import { Redis as RedisClient } from 'ioredis'
import { deleteKeys, redisClient, startRedisServer, uniquePrefix, waitFor } from '@liquid-edge/test/harness'
import { WindowStore, type FoldItem } from '../src/telemetry/window-store.js'
import { metricOf } from '../src/telemetry/window-stats.js'

const B = 10_000
const MODEL = { name: 'kws', version: '1.0.0' }
const BOUND = HISTOGRAM_RELATIVE_ERROR * (1 + 1e-9)
const QUANTILES = [0.01, 0.5, 0.9, 0.95, 0.99, 1]

let redis: Redis
const prefixes: string[] = []
beforeAll(() => {
  redis = redisClient()
})
afterAll(async () => {
  for (const p of prefixes) await deleteKeys(redis, p)
  await redis.quit()
})

function store(): WindowStore {
  const prefix = uniquePrefix('t-fold')
  prefixes.push(prefix)
  return new WindowStore(redis, prefix, B, 60_000)
}

/** One device window as an agent sends it, built from raw samples with the protocol's statistics module. */
function window(
  seq: number,
  hardware: string,
  latencies: readonly number[],
  failed: number,
  power: { mw: number; ms: number },
): TelemetryBody {
  const acc = emptyLatency()
  for (const v of latencies) addLatency(acc, v)
  return {
    seq,
    windowStart: 0,
    windowMs: power.ms,
    model: MODEL,
    inferences: latencies.length + failed,
    errors: failed,
    latency: latencyStats(acc),
    latencyMs: latencyQuantiles(acc),
    energy: { avgMw: power.mw, perInferenceMj: null, joules: (power.mw * power.ms) / 1e6, measuredMs: power.ms, source: 'meter' },
    temperatureC: null,
    memory: null,
    hardware,
    dropped: 0,
  }
}

const latency = fc.double({ min: Math.log(HISTOGRAM_MIN_MS), max: Math.log(HISTOGRAM_MAX_MS), noNaN: true }).map(Math.exp)
const deviceWindow = fc.record({
  device: fc.integer({ min: 0, max: 7 }),
  latencies: fc.array(latency, { minLength: 0, maxLength: 30 }),
  failed: fc.integer({ min: 0, max: 5 }),
  mw: fc.double({ min: 1, max: 20_000, noNaN: true }),
  ms: fc.integer({ min: 100, max: 10_000 }),
})

describe('window store', () => {
  it('folds windows of many devices and classes into cohort stats: quantiles within the stated error of the raw samples, mean, error rate and power exact', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(deviceWindow, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 10 }), async (ws, batches) => {
        const s = store()
        const items: FoldItem[] = ws.map((w, i) => ({
          deviceId: `d-${w.device}`,
          at: 5 * B + 1,
          body: window(i, w.device % 2 === 0 ? 'stm32h743' : 'x86-edge', w.latencies, w.failed, { mw: w.mw, ms: w.ms }),
        }))
        // Several batches, as the ingest flushes them: folding is addition, whatever the grouping.
        const size = Math.ceil(items.length / batches)
        for (let i = 0; i < items.length; i += size) await s.fold(items.slice(i, i + size))
        const [bucket] = await s.series('kws@1.0.0', 5 * B, 5 * B)
        const st = bucket?.stats
        if (st === undefined) throw new Error('no bucket')
        const raw = ws.flatMap((w) => w.latencies)
        const attempts = ws.reduce((n, w) => n + w.latencies.length + w.failed, 0)
        const failed = ws.reduce((n, w) => n + w.failed, 0)
        expect(st.windows).toBe(ws.length)
        // No attempt at all: the error rate is unknown, not 0.
        expect(metricOf('error_rate', st, B).value).toBe(attempts === 0 ? null : failed / attempts)
        const joules = ws.reduce((n, w) => n + (w.mw * w.ms) / 1e6, 0)
        const ms = ws.reduce((n, w) => n + w.ms, 0)
        expect(Math.abs((metricOf('energy_avg', st, B).value ?? NaN) - (joules * 1e6) / ms) / ((joules * 1e6) / ms)).toBeLessThan(1e-9)
        if (raw.length === 0) {
          expect(metricOf('latency_avg', st, B).value).toBeNull()
          return
        }
        const mean = raw.reduce((a, b) => a + b, 0) / raw.length
        expect(Math.abs((metricOf('latency_avg', st, B).value ?? NaN) - mean) / mean).toBeLessThan(1e-9)
        expect(st.latency.count).toBe(raw.length)
        expect(st.latency.maxMs).toBe(Math.max(...raw))
        expect(st.approximateWindows).toBe(0)
        const sorted = [...raw].sort((a, b) => a - b)
        for (const q of QUANTILES) {
          const exact = sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1] ?? NaN
          const got = latencyQuantile(st.latency, q) ?? NaN
          expect(Math.abs(got - exact) / exact, `q=${q}: ${got} vs ${exact}`).toBeLessThanOrEqual(BOUND)
        }
      }),
      { numRuns: 40 },
    )
  })

  it('keeps each hardware class apart and counts older agents’ quantile-only windows as approximate', async () => {
    const s = store()
    const exact = window(0, 'stm32h743', [4, 4, 4, 40], 0, { mw: 300, ms: 1000 })
    const { latency: _l, hardware: _h, ...legacy } = window(0, 'x86-edge', [], 0, { mw: 6000, ms: 1000 })
    const old: TelemetryBody = { ...legacy, inferences: 100, errors: 10, latencyMs: { p50: 2, p95: 3, p99: 5, max: 9 } }
    await s.fold([
      { deviceId: 'new', at: B + 1, body: exact },
      { deviceId: 'old', at: B + 1, body: old },
    ])
    const byClass = await s.seriesByClass('kws@1.0.0', B, B)
    expect([...byClass.keys()]).toEqual(['stm32h743', 'unknown'])
    const mcu = byClass.get('stm32h743')?.[0]?.stats
    expect(mcu).toMatchObject({ windows: 1, latencyCount: 4, latencySum: 52, approximateWindows: 0 })
    const legacyStats = byClass.get('unknown')?.[0]?.stats
    // 90 successes: 45 at p50, 40 at p95, 4 at p99, 1 at the maximum; the sum is p50 × 90.
    expect(legacyStats).toMatchObject({ windows: 1, latencyCount: 90, latencySum: 180, approximateWindows: 1 })
    expect(legacyStats?.latency.count).toBe(90)
    expect(legacyStats?.latency.maxMs).toBe(9)
    const all = (await s.series('kws@1.0.0', B, B))[0]?.stats
    expect(all).toMatchObject({ windows: 2, devices: 2, inferences: 104, errors: 10, approximateWindows: 1 })
  })

  it('reads the shares of the devices asked for', async () => {
    const s = store()
    await s.fold([
      { deviceId: 'a', at: B + 1, body: window(0, 'stm32h743', [2, 4], 1, { mw: 100, ms: 1000 }) },
      { deviceId: 'b', at: B + 1, body: window(0, 'stm32h743', [8], 0, { mw: 200, ms: 1000 }) },
      { deviceId: 'a', at: B + 2, body: window(1, 'stm32h743', [6], 0, { mw: 100, ms: 1000 }) },
    ])
    const shares = (await s.sharesOf('kws@1.0.0', B, B, ['a'])).get(B)
    expect(shares).toEqual([
      expect.objectContaining({ deviceId: 'a', windows: 2, inferences: 4, errors: 1, latencySum: 12, latencyCount: 3, energyMs: 2000 }),
    ])
  })

  it('folds a batch of 2,000 windows from 500 devices with a few Redis commands, not one per window', async () => {
    // A Redis of its own: MONITOR shows every command its clients send (and, apart, those a script runs).
    await using server = await startRedisServer()
    const client = new RedisClient(server.url)
    const watcher = new RedisClient(server.url)
    const monitor = await watcher.monitor()
    const sent: string[] = []
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source !== 'lua' && args[0] !== undefined) sent.push(args[0].toLowerCase())
    })
    try {
      const s = new WindowStore(client, uniquePrefix('t-fold'), B, 60_000)
      const items: FoldItem[] = Array.from({ length: 2000 }, (_, i) => ({
        deviceId: `d-${i % 500}`,
        at: B + 1,
        body: window(Math.floor(i / 500), i % 2 === 0 ? 'stm32h743' : 'x86-edge', [3, 5], i % 10 === 0 ? 1 : 0, { mw: 100, ms: 1000 }),
      }))
      expect(await s.fold(items)).toBe(0)
      // Two slots (one per class) and every device's sequence: three scripts (each EVALSHA may first
      // come back NOSCRIPT and be sent again as EVAL).
      await waitFor(() => sent.filter((c) => c === 'evalsha' || c === 'eval').length >= 3, { timeoutMs: 10_000 })
      const scripts = sent.filter((c) => c === 'evalsha' || c === 'eval')
      expect(sent.filter((c) => c !== 'evalsha' && c !== 'eval')).toEqual([])
      expect(scripts.length).toBeLessThanOrEqual(6)
      const st = (await s.series('kws@1.0.0', B, B))[0]?.stats
      expect(st).toMatchObject({ windows: 2000, inferences: 2000 * 2 + 200, errors: 200, latencyCount: 4000 })
      // Devices are counted by HyperLogLog: within its 0.81 % standard error.
      expect(Math.abs((st?.devices ?? 0) - 500)).toBeLessThanOrEqual(10)
      const shares = (await s.sharesOf('kws@1.0.0', B, B, ['d-0', 'd-1'])).get(B)
      expect(shares).toEqual([
        expect.objectContaining({ deviceId: 'd-0', windows: 4, inferences: 12, errors: 4 }),
        expect.objectContaining({ deviceId: 'd-1', windows: 4, inferences: 8, errors: 0 }),
      ])
      // A later batch that skips sequence numbers reveals the lost windows.
      expect(await s.fold([{ deviceId: 'd-0', at: B + 2, body: window(9, 'stm32h743', [3], 0, { mw: 100, ms: 1000 }) }])).toBe(5)
    } finally {
      monitor.disconnect()
      await watcher.quit()
      await client.quit()
    }
  })
})
