/**
 * Reaction (`npm run bench reaction`): from a fault to the rules' decision to every affected device
 * back on the old model, with each part in its own process (as bench/telemetry). BENCH_DEVICES
 * (default 1,000) devices report at 1 Hz; a 2.0.0 rollout bakes at 25 % with the default rules;
 * then every device on 2.0.0 fails 25 % of its inferences. Split:
 * - window: fault → the end of the window the decision judged (the rule's window and sustain);
 * - evaluation: that → the decision in the audit stream (waiting for the next evaluation, and it);
 * - propagation: the decision → the last device back on 1.0.0 (the rollback reaching the fleet).
 * Settings (BENCH_SETTINGS, comma-separated): `demo` (the sandbox's demo: rules × 0.05, evaluation
 * every 1 s, 500 ms buckets; the default) and `default` (the runbook's rules: minutes per sample).
 * Baseline: the floor the settings put on the decision (window + sustain + one evaluation period).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { ControllerProc } from '../lib/controller.js'
import { sampleCount, showSpread, spread } from '../lib/samples.js'
import { line, startScenario, type Scenario } from '../lib/scenario.js'

const N = Number(process.env.BENCH_DEVICES ?? 1000)
const SETTINGS = (process.env.BENCH_SETTINGS ?? 'demo').split(',')
const SAMPLES = sampleCount()

const PRESETS: Record<string, { env: Record<string, string>; scale: number; evalMs: number }> = {
  demo: { env: { LLN_RULES_TIME_SCALE: '0.05', LLN_RULES_EVAL_MS: '1000', LLN_TELEMETRY_BUCKET_MS: '500' }, scale: 0.05, evalMs: 1000 },
  default: { env: {}, scale: 1, evalMs: 5000 },
}

interface Decision {
  event: string
  at: number
  rolloutId: string
  evidence?: { rule: string; windowStart: number; windowMs: number }
}

async function versions(s: Scenario): Promise<Record<string, number>> {
  return (await s.fleet.request<{ versions: Record<string, number> }>('counts')).versions
}

async function sample(s: Scenario, ctl: ControllerProc, rolloutId: string) {
  const tFault = (await s.fleet.request<{ at: number }>('fault', { version: '2.0.0', errors: 5 })).at
  let decision: Decision | undefined
  while (decision === undefined) {
    await sleep(50)
    const { events } = await ctl.call<{ events: Decision[] }>('GET', `/v1/events?limit=1000&rollout=${rolloutId}`)
    decision = events.find((e) => e.event === 'decision')
  }
  while (((await versions(s))['2.0.0'] ?? 0) > 0) await sleep(20)
  const tBack = Date.now()
  await s.fleet.request('fault', { version: '2.0.0' })
  const windowEnd = (decision.evidence?.windowStart ?? tFault) + (decision.evidence?.windowMs ?? 0)
  return {
    rule: decision.evidence?.rule ?? '?',
    window: Math.max(0, windowEnd - tFault),
    evaluation: decision.at - Math.max(windowEnd, tFault),
    propagation: tBack - decision.at,
    total: tBack - tFault,
  }
}

async function redeploy(s: Scenario, ctl: ControllerProc): Promise<string> {
  const r = await ctl.call<{ id: string }>('POST', '/v1/rollouts', {
    model: { name: 'bench-kws', version: '2.0.0' },
    target: 'bench=fleet',
    bakeMs: 3_600_000,
    supersede: true,
  })
  const first = Math.floor(s.n * 0.25 * 0.95)
  while (((await versions(s))['2.0.0'] ?? 0) < first) await sleep(200)
  return r.id
}

line(
  `node ${process.version}; ${N.toLocaleString('en-US')} devices at 1 Hz, 25 % on 2.0.0, the fault: 25 % of its inferences fail; ${SAMPLES} samples`,
)
for (const name of SETTINGS) {
  const preset = PRESETS[name]
  if (preset === undefined) throw new Error(`unknown settings ${name}: demo or default`)
  const s = await startScenario(N)
  try {
    const { ctl, rolloutId } = await s.withController(preset.env)
    await s.fleet.request('steady', { windowMs: 1000 })
    const rows = []
    let id = rolloutId
    for (let i = 0; i < SAMPLES; i++) {
      if (i > 0) id = await redeploy(s, ctl)
      // A healthy start: the new rollout's own windows fill before the fault.
      await sleep(Math.max(2000, 60_000 * preset.scale))
      const r = await sample(s, ctl, id)
      rows.push(r)
      line(
        `  ${name} sample ${i + 1}: ${r.rule} — window ${r.window} ms, evaluation ${r.evaluation} ms, propagation ${r.propagation} ms, total ${r.total} ms`,
      )
    }
    await s.fleet.request('stop')
    const floor = Math.round((30_000 + 120_000) * preset.scale + preset.evalMs)
    line(
      `${name} settings: fault → all back ${showSpread(spread(rows.map((r) => r.total)))} ms (window ${showSpread(spread(rows.map((r) => r.window)))}, evaluation ${showSpread(spread(rows.map((r) => r.evaluation)))}, propagation ${showSpread(spread(rows.map((r) => r.propagation)))} ms); floor of the error-rate rule: window + sustain + one evaluation = ${floor} ms`,
    )
  } finally {
    await s.close()
  }
}
