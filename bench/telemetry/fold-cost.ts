/**
 * What exact, mergeable windows cost the controller per message, beside the window form agents sent
 * before them, measured side by side in one run on a Redis of its own. One message's ingest is what
 * the controller does with it: decode and validate the payload (the protocol codec), then fold it in
 * batches of 2,000 (the ingest's largest batch) into the Redis windows (`WindowStore.fold`).
 * - exact: what agents send now — latency count, sum, extremes and log histogram of ~20 samples,
 *   the quantile summary, energy as joules over measured time, temperature readings, memory;
 * - previous: the older form — latency quantiles only, average power only, one temperature (the
 *   controller still accepts it, folds it at its quantiles and flags it approximate).
 * The two alternate, A B A B …, 5 samples (or BENCH_SAMPLES, if more) each, on fresh key prefixes.
 * Each sample gives the wall time per message and the CPU time per message of this process and the
 * Redis server together (Redis's own figure from INFO), which a busy machine disturbs less.
 */
import { Redis } from 'ioredis'
import { WindowStore } from '@liquid-edge/controller'
import {
  addLatency,
  createCodec,
  deviceMessage,
  emptyLatency,
  latencyQuantiles,
  latencyStats,
  type TelemetryBodyInput,
} from '@liquid-edge/protocol'
import { startRedisServer, uniquePrefix, uniqueRoot } from '@liquid-edge/test/harness'
import { sampleCount, showSpread, spread } from '../lib/samples.js'

const DEVICES = Number(process.env.BENCH_FOLD_DEVICES ?? 1000)
const WINDOWS = Number(process.env.BENCH_FOLD_WINDOWS ?? 10)
const BATCH = 2000
type FoldItem = Parameters<WindowStore['fold']>[0][number]
// Cheap enough for more samples than the default 3: a busy machine's noise shows in the spread.
const SAMPLES = Math.max(5, sampleCount())
const MODEL = { name: 'bench-kws', version: '2.0.0' }

/** A deterministic pseudo-random stream (the same windows in every run). */
function random(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
}

/** One device window in both forms, from the same raw samples. */
function windowOf(seq: number, next: () => number): { exact: TelemetryBodyInput; previous: TelemetryBodyInput } {
  const acc = emptyLatency()
  const n = 15 + Math.floor(next() * 10)
  // Log-normal around 4 ms, with a slow tail.
  for (let i = 0; i < n; i++) addLatency(acc, 4 * Math.exp(0.3 * (next() + next() + next() - 1.5)) * (next() < 0.02 ? 8 : 1))
  const errors = next() < 0.1 ? 1 : 0
  const mw = 300 + next() * 50
  const c = 40 + next() * 5
  const common = { seq, windowStart: 1_700_000_000_000 + seq * 1000, windowMs: 1000, model: MODEL, inferences: n + errors, errors }
  return {
    exact: {
      ...common,
      latency: latencyStats(acc),
      latencyMs: latencyQuantiles(acc),
      energy: { avgMw: mw, perInferenceMj: null, joules: mw / 1000, measuredMs: 1000, source: 'meter' },
      temperatureC: c,
      temperature: { maxC: c, meanC: c, samples: 1 },
      memory: { usedBytes: 400_000, totalBytes: 1_048_576 },
      hardware: 'stm32h743',
    },
    previous: {
      ...common,
      latencyMs: latencyQuantiles(acc),
      energy: { avgMw: mw, perInferenceMj: null },
      temperatureC: c,
      memory: { usedBytes: 400_000, totalBytes: 1_048_576 },
    },
  }
}

type Wire = { topic: string; payload: Uint8Array }[]

/** Every device's windows in both forms, encoded as they arrive (one message per window). */
function messages(root: string): { exact: Wire; previous: Wire } {
  const codec = createCodec({ root })
  const next = random(7)
  const out: { exact: Wire; previous: Wire } = { exact: [], previous: [] }
  for (let w = 0; w < WINDOWS; w++) {
    for (let d = 0; d < DEVICES; d++) {
      const id = `fc-${d}`
      const both = windowOf(w, next)
      const topic = codec.topics.telemetry(id)
      out.exact.push({ topic, payload: codec.encode(deviceMessage('telemetry', id, both.exact)) })
      out.previous.push({ topic, payload: codec.encode(deviceMessage('telemetry', id, both.previous)) })
    }
  }
  return out
}

/** CPU seconds the Redis server has used (INFO cpu). */
async function redisCpuS(redis: Redis): Promise<number> {
  const info = await redis.info('cpu')
  const field = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? NaN)
  return field('used_cpu_user') + field('used_cpu_sys')
}

/** Decode and fold every message; wall and CPU (this process + Redis) µs per message. */
async function ingest(redis: Redis, root: string, wire: Wire): Promise<{ wall: number; cpu: number }> {
  const codec = createCodec({ root })
  const store = new WindowStore(redis, uniquePrefix('bench-fold'), 10_000, 600_000)
  const r0 = await redisCpuS(redis)
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  let batch: FoldItem[] = []
  for (const m of wire) {
    const d = codec.decode(m.topic, m.payload)
    if (!d.ok || d.message.type !== 'telemetry') throw new Error(`a bench message did not decode: ${JSON.stringify(d)}`)
    batch.push({ deviceId: d.message.deviceId, at: Date.now(), body: d.message.body })
    if (batch.length === BATCH) {
      await store.fold(batch)
      batch = []
    }
  }
  if (batch.length > 0) await store.fold(batch)
  const wall = ((performance.now() - t0) * 1000) / wire.length
  const c = process.cpuUsage(c0)
  const cpuUs = c.user + c.system + ((await redisCpuS(redis)) - r0) * 1e6
  return { wall, cpu: cpuUs / wire.length }
}

export async function foldCost(line: (s: string) => void): Promise<void> {
  const root = uniqueRoot()
  const wire = messages(root)
  const bytes = (w: Wire) => Math.round(w.reduce((n, m) => n + m.payload.byteLength, 0) / w.length)
  // A Redis of its own (the machine's is shared); it goes with its keys when the bench ends.
  await using server = await startRedisServer()
  const redis = new Redis(server.url)
  try {
    // One unmeasured round of each: JIT and Redis warm-up.
    await ingest(redis, root, wire.exact.slice(0, BATCH))
    await ingest(redis, root, wire.previous.slice(0, BATCH))
    const exact: { wall: number; cpu: number }[] = []
    const previous: { wall: number; cpu: number }[] = []
    for (let i = 0; i < SAMPLES; i++) {
      previous.push(await ingest(redis, root, wire.previous))
      exact.push(await ingest(redis, root, wire.exact))
    }
    line(
      `fold cost per message (decode + fold into Redis windows, batches of ${BATCH}; ${(DEVICES * WINDOWS).toLocaleString('en-US')} messages of ${DEVICES.toLocaleString('en-US')} devices per sample; min / median / max of ${SAMPLES}):`,
    )
    line(`                                          wall µs/message          CPU µs/message (this process + Redis)`)
    const row = (name: string, xs: { wall: number; cpu: number }[]): void => {
      line(`  ${name.padEnd(40)}${showSpread(spread(xs.map((x) => x.wall)), 1).padEnd(25)}${showSpread(spread(xs.map((x) => x.cpu)), 1)}`)
    }
    row(`previous form (quantiles, ${bytes(wire.previous)} B)`, previous)
    row(`exact windows (histogram, ${bytes(wire.exact)} B)`, exact)
    const ratio = (k: 'wall' | 'cpu') => spread(exact.map((x) => x[k])).median / spread(previous.map((x) => x[k])).median
    line(`  ratio exact ÷ previous (medians): wall ${ratio('wall').toFixed(2)}×, CPU ${ratio('cpu').toFixed(2)}× (goal ≤ 1.20×)`)
  } finally {
    await redis.quit()
  }
}
