/**
 * Soak (`npm run bench soak`): the controller's memory and event-loop lag over time while a fleet
 * reports at 1 Hz and a rollout bakes with the default rules (each part in its own process, as in
 * bench/telemetry). BENCH_DEVICES (default 2,000) devices for BENCH_SOAK_S (default 60) seconds,
 * sampled every BENCH_EVERY_S (default 5) s: RSS (from /proc), heap and event-loop lag p99 (the
 * controller's own /metrics). Baseline: the same controller idle, before the fleet reports. The
 * figure: the RSS slope over the second half of the run (after warm-up), in MB per minute.
 * The soak: BENCH_DEVICES=10000 BENCH_SOAK_S=1800.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { ControllerProc } from '../lib/controller.js'
import { sampleCount, showSpread, spread } from '../lib/samples.js'
import { line, startScenario } from '../lib/scenario.js'

const N = Number(process.env.BENCH_DEVICES ?? 2000)
const SOAK_S = Number(process.env.BENCH_SOAK_S ?? 60)
const EVERY_S = Number(process.env.BENCH_EVERY_S ?? 5)

interface Sample {
  atS: number
  rssMb: number
  heapMb: number
  lagP99Ms: number
  folded: number
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text)
  return m?.[1] === undefined ? NaN : Number(m[1])
}

async function sample(c: ControllerProc, t0: number): Promise<Sample> {
  const res = await fetch(`${c.url}/metrics`)
  const text = await res.text()
  const { ingest } = await c.call<{ ingest: { folded: number } }>('GET', '/v1/telemetry?spanMs=1000')
  return {
    atS: (Date.now() - t0) / 1000,
    rssMb: c.usage().rssBytes / 2 ** 20,
    heapMb: metric(text, 'nodejs_heap_size_used_bytes') / 2 ** 20,
    // Reset at every scrape: the p99 since the previous sample.
    lagP99Ms: metric(text, 'nodejs_eventloop_lag_p99_seconds') * 1000,
    folded: ingest.folded,
  }
}

/** Least-squares slope of y over x. */
function slope(points: readonly [number, number][]): number {
  const n = points.length
  if (n < 2) return NaN
  const mx = points.reduce((a, [x]) => a + x, 0) / n
  const my = points.reduce((a, [, y]) => a + y, 0) / n
  const num = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0)
  const den = points.reduce((a, [x]) => a + (x - mx) ** 2, 0)
  return den === 0 ? NaN : num / den
}

line(`node ${process.version}; ${N.toLocaleString('en-US')} devices at 1 Hz for ${SOAK_S} s, a sample every ${EVERY_S} s`)
const s = await startScenario(N)
try {
  const { ctl } = await s.withController()
  const idle: Sample[] = []
  const t0 = Date.now()
  await sample(ctl, t0) // starts the lag window
  for (let i = 0; i < sampleCount(); i++) {
    await sleep(EVERY_S * 1000)
    idle.push(await sample(ctl, t0))
  }
  line(
    `baseline, idle (rollout baking, no telemetry): RSS ${showSpread(spread(idle.map((x) => x.rssMb)))} MB, event-loop lag p99 ${showSpread(spread(idle.map((x) => x.lagP99Ms)), 1)} ms`,
  )
  await s.fleet.request('steady', { windowMs: 1000 })
  const t1 = Date.now()
  const load: Sample[] = []
  const bar = process.stdout.isTTY
  line('   time   RSS MB   heap MB   lag p99 ms   folded msg/s')
  let prev = await sample(ctl, t1)
  while (Date.now() - t1 < SOAK_S * 1000) {
    await sleep(EVERY_S * 1000)
    const x = await sample(ctl, t1)
    const rate = (x.folded - prev.folded) / (x.atS - prev.atS)
    load.push(x)
    prev = x
    const row = `${x.atS.toFixed(0).padStart(6)} s ${x.rssMb.toFixed(0).padStart(8)} ${x.heapMb.toFixed(0).padStart(9)} ${x.lagP99Ms.toFixed(1).padStart(12)} ${rate.toFixed(0).padStart(14)}`
    if (bar) process.stdout.write(`\r${row}`)
    else line(row)
  }
  if (bar) process.stdout.write('\n')
  await s.fleet.request('stop')
  const late = load.slice(Math.floor(load.length / 2))
  const perMin = slope(late.map((x) => [x.atS / 60, x.rssMb]))
  line(
    `under load: RSS ${showSpread(spread(load.map((x) => x.rssMb)))} MB, heap ${showSpread(spread(load.map((x) => x.heapMb)))} MB, event-loop lag p99 ${showSpread(spread(load.map((x) => x.lagP99Ms)), 1)} ms`,
  )
  line(
    `RSS slope over the second half: ${perMin.toFixed(2)} MB/min (flat ≈ 0); last RSS ${late.at(-1)?.rssMb.toFixed(0)} MB vs idle median ${spread(idle.map((x) => x.rssMb)).median.toFixed(0)} MB`,
  )
} finally {
  await s.close()
}
