/**
 * Telemetry ingest (`npm run bench telemetry`), each part in a process of its own: a private
 * Mosquitto, a light simulated fleet (BENCH_DEVICES, default 10,000, over 20 connections), a
 * controller on a private Redis with a 2.0.0 rollout active at its first step and the default rules.
 * 1. raw: a bare subscriber in its own process on the same broker — what the broker delivers to
 *    one consumer, the ceiling of any ingest;
 * 2. end to end: the same bursts, folded by the controller into its Redis windows (`ingest.folded`);
 * 3. steady: every device once a second for BENCH_STEADY_S (default 20) s — how far ingest lags
 *    behind when the fleet stops, what was lost, the controller's CPU and RSS.
 * 0. first, alone: the fold cost per message of exact windows beside the previous window form
 *    (`fold-cost.ts`), wall and CPU time, on a Redis of its own.
 * Each burst sends every device BENCH_ROUNDS (default: 60,000 messages in all) windows; 3 samples
 * (BENCH_SAMPLES) of each, min / median / max. Rates depend on the machine's load; CPU time per
 * message of the consumer (bare subscriber vs controller) much less so.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { BenchChild } from '../lib/child.js'
import type { ControllerProc } from '../lib/controller.js'
import { sampleCount, showSpread, spread } from '../lib/samples.js'
import { line, startScenario } from '../lib/scenario.js'
import { foldCost } from './fold-cost.js'

const N = Number(process.env.BENCH_DEVICES ?? 10_000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? Math.max(1, Math.round(60_000 / N)))
const STEADY_S = Number(process.env.BENCH_STEADY_S ?? 20)
const SAMPLES = sampleCount()

interface Burst {
  startedAt: number
  endedAt: number
  sent: number
}

/** Poll `read` until it reaches `target` or stops moving for 3 s; returns the count and when it last moved. */
async function settle(read: () => Promise<number>, target: number): Promise<{ count: number; at: number }> {
  let last = await read()
  let at = Date.now()
  for (;;) {
    if (last >= target) return { count: last, at }
    await sleep(20)
    const v = await read()
    if (v !== last) [last, at] = [v, Date.now()]
    else if (Date.now() - at > 3000) return { count: last, at }
  }
}

interface Sample {
  rate: number
  lost: number
  /** CPU time of the consumer per message taken, µs: what the machine's load does not change. */
  cpuUs: number
}

async function rawSample(fleet: BenchChild, sub: BenchChild): Promise<Sample> {
  await sub.request('reset')
  const u0 = sub.usage()
  const b = await fleet.request<Burst>('burst', { rounds: ROUNDS })
  const done = await settle(async () => (await sub.request<{ got: number }>('count')).got, b.sent)
  const { lastAt } = await sub.request<{ lastAt: number | null }>('count')
  const cpuUs = ((sub.usage().cpuS - u0.cpuS) * 1e6) / Math.max(1, done.count)
  return { rate: (done.count * 1000) / Math.max(1, (lastAt ?? done.at) - b.startedAt), lost: b.sent - done.count, cpuUs }
}

const folded = async (c: ControllerProc) => (await c.call<{ ingest: { folded: number } }>('GET', '/v1/telemetry?spanMs=1000')).ingest.folded

async function e2eSample(fleet: BenchChild, c: ControllerProc): Promise<Sample> {
  const start = await folded(c)
  const u0 = c.usage()
  const b = await fleet.request<Burst>('burst', { rounds: ROUNDS })
  const done = await settle(async () => (await folded(c)) - start, b.sent)
  const u1 = c.usage()
  const ms = Math.max(1, done.at - b.startedAt)
  return { rate: (done.count * 1000) / ms, lost: b.sent - done.count, cpuUs: ((u1.cpuS - u0.cpuS) * 1e6) / Math.max(1, done.count) }
}

async function steady(fleet: BenchChild, c: ControllerProc) {
  const start = await folded(c)
  const sent0 = (await fleet.request<{ sent: number }>('counts')).sent
  const u0 = c.usage()
  const t0 = Date.now()
  await fleet.request('steady', { windowMs: 1000 })
  await sleep(STEADY_S * 1000)
  const stop = await fleet.request<{ stoppedAt: number; sent: number }>('stop')
  const sent = stop.sent - sent0
  const done = await settle(async () => (await folded(c)) - start, sent)
  const u1 = c.usage()
  return {
    rate: Math.round((sent * 1000) / (stop.stoppedAt - t0)),
    lagMs: Math.max(0, done.at - stop.stoppedAt),
    lost: sent - done.count,
    cpu: (u1.cpuS - u0.cpuS) / ((done.at - t0) / 1000),
    rssMb: Math.round(u1.rssBytes / 2 ** 20),
  }
}

line(
  `node ${process.version}; ${N.toLocaleString('en-US')} devices over 20 connections, QoS 0, private Mosquitto and Redis; ${SAMPLES} samples of ${ROUNDS} window(s) per device each`,
)
await foldCost(line)
const s = await startScenario(N)
try {
  const sub = await s.subscriber(s.telemetryTopic)
  const raw: Sample[] = []
  for (let i = 0; i < SAMPLES; i++) raw.push(await rawSample(s.fleet, sub))
  await sub.stop()
  line(
    `raw: bare subscriber, own process            ${showSpread(spread(raw.map((r) => r.rate)))} msg/s   lost ${raw.map((r) => r.lost).join(', ')}   CPU ${showSpread(spread(raw.map((r) => r.cpuUs)), 1)} µs/msg`,
  )
  const { ctl } = await s.withController()
  line(`controller ready: ${N.toLocaleString('en-US')} devices registered, rollout of 2.0.0 at step 1 (25 %) with the default rules`)
  const e2e: Sample[] = []
  for (let i = 0; i < SAMPLES; i++) e2e.push(await e2eSample(s.fleet, ctl))
  const rawM = spread(raw.map((r) => r.rate)).median
  const e = spread(e2e.map((r) => r.rate))
  line(
    `end to end: folded into Redis windows        ${showSpread(e)} msg/s   lost ${e2e.map((r) => r.lost).join(', ')}   controller CPU ${showSpread(spread(e2e.map((r) => r.cpuUs)), 1)} µs/msg`,
  )
  line(
    `ratio end to end ÷ raw (medians)              ${(e.median / rawM).toFixed(2)}×   (min ${(e.min / rawM).toFixed(2)}×, max ${(e.max / rawM).toFixed(2)}×)`,
  )
  const cpuRatio = spread(e2e.map((r) => r.cpuUs)).median / spread(raw.map((r) => r.cpuUs)).median
  line(`CPU per message, controller ÷ bare subscriber (medians): ${cpuRatio.toFixed(1)}×   (a share of the machine, whatever its load)`)
  const st = await steady(s.fleet, ctl)
  line(
    `steady 1 Hz, ${STEADY_S} s (${st.rate.toLocaleString('en-US')} msg/s): lag after the last send ${st.lagMs} ms, lost ${st.lost}, controller CPU ${(st.cpu * 100).toFixed(0)} %, RSS ${st.rssMb} MB`,
  )
} finally {
  await s.close()
}
