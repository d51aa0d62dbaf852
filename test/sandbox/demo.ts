/**
 * The scripted story of `npm start -- --demo`, told with the operator's own commands:
 * install v1; roll v2 out 25% → 100%; roll v3 out, whose canary devices regress in latency;
 * watch the latency rule fire and the fleet return to v2 by itself; print the evidence.
 */
import * as z from 'zod'
import { waitFor } from '../harness/wait.js'
import { listDevices, type DeviceView } from './fleet.js'
import { run, runShown } from './processes.js'
import type { Sandbox } from './sandbox.js'

const MODEL = 'cfc-sense'
const TARGET = 'env in (staging,production)'
/** 2.0.0 goes to the x86 class: it fits that class's budgets until the injected regression. */
const V3_TARGET = 'hw=x86-edge'
/** How many times slower inferences get on the canary devices running v3. */
const REGRESSION = 20

const RolloutSchema = z.looseObject({
  id: z.string(),
  state: z.string(),
  counts: z.looseObject({ cohort: z.number(), succeeded: z.number() }),
})

export async function playDemo(sandbox: Sandbox, out: (line: string) => void): Promise<boolean> {
  const env = sandbox.cliEnv
  const lln = (args: string[]) => runShown('liquid-lln', args, { env })
  const act = (title: string) => {
    out(`\n━━ ${title}`)
  }

  act(
    `1/4  Install ${MODEL}@1.0.0 on the whole fleet ($ liquid-lln deploy --target '${TARGET}' --model ${MODEL}@1.0.0 --strategy all --wait)`,
  )
  if (
    (await lln([
      'deploy',
      '--target',
      TARGET,
      '--model',
      `${MODEL}@1.0.0`,
      '--strategy',
      'all',
      '--trial',
      '3s',
      '--wait',
      '--timeout',
      '5m',
    ])) !== 0
  )
    return false

  act(`2/4  Roll out ${MODEL}@1.1.0: 25% of every hardware class, bake, then 100%`)
  out(`     $ liquid-lln deploy --target '${TARGET}' --model ${MODEL}@1.1.0 --steps 25,100 --stratify hw --bake 10s --wait`)
  if (
    (await lln([
      'deploy',
      '--target',
      TARGET,
      '--model',
      `${MODEL}@1.1.0`,
      '--steps',
      '25,100',
      '--stratify',
      'hw',
      '--bake',
      '10s',
      '--trial',
      '3s',
      '--wait',
      '--timeout',
      '5m',
    ])) !== 0
  )
    return false

  act(
    `3/4  Roll out ${MODEL}@2.0.0 to the x86 edge nodes — it carries a latency regression (×${REGRESSION}, injected into the simulator); on an STM32 it is over that class's own energy budget, so its trial would revert it there`,
  )
  const started = await run(
    'liquid-lln',
    [
      '--json',
      'deploy',
      '--no-wait',
      '--target',
      V3_TARGET,
      '--model',
      `${MODEL}@2.0.0`,
      '--steps',
      '25,100',
      '--stratify',
      'hw',
      '--bake',
      '5m',
      '--trial',
      '3s',
    ],
    { env },
  )
  if (started.code !== 0) {
    out(`deploy failed (exit ${String(started.code)}): ${started.stderr}${started.stdout}`)
    return false
  }
  const rollout = RolloutSchema.parse(JSON.parse(started.stdout))
  out(`     rollout ${rollout.id} started; waiting for the 25% canary to confirm v2.0.0…`)
  const show = async () =>
    RolloutSchema.parse(JSON.parse((await run('liquid-lln', ['--json', 'rollout', 'show', rollout.id], { env })).stdout))
  await until(async () => {
    const r = await show()
    return r.counts.cohort > 0 && r.counts.succeeded >= r.counts.cohort ? r : null
  }, 240_000)
  const canary = (await listDevices(sandbox)).filter((d) => d.active === `${MODEL}@2.0.0`)
  await setFaults(sandbox, { ids: canary.map((d) => d.id), set: { latencyFactor: REGRESSION } })
  out(
    `     ${canary.length} canary devices run 2.0.0; their inferences are now ${REGRESSION}× slower. The controller's latency rule watches…`,
  )

  const end = await until(async () => {
    const r = await show()
    return ['rolled-back', 'aborted', 'paused', 'completed'].includes(r.state) ? r.state : null
  }, 300_000)
  out(`     rollout ${rollout.id} is now: ${end}`)

  act('4/4  The fleet, and the evidence behind the decision')
  const back = await waitForDevices(
    sandbox,
    (ds) => ds.filter((d) => d.active === `${MODEL}@1.1.0`),
    (ds, all) => ds.length === all.length,
    240_000,
  )
  await setFaults(sandbox, { set: {} })
  await lln(['status'])
  await lln(['events', '--rollout', rollout.id])
  const ok = end === 'rolled-back' && back.length > 0
  out(
    ok
      ? `\n✔ The regression was rolled back automatically: all ${back.length} devices run ${MODEL}@1.1.0 again.`
      : `\n✘ The story did not end as expected (rollout ${end}).`,
  )
  return ok
}

/** Poll `probe` each second until it returns a value (not null), or give up at the deadline. */
function until<T>(probe: () => Promise<T | null>, timeoutMs: number): Promise<NonNullable<T>> {
  return waitFor(probe, { timeoutMs, intervalMs: 1000, what: 'the demo to reach its next act' })
}

async function waitForDevices(
  sandbox: Sandbox,
  select: (devices: DeviceView[]) => DeviceView[],
  done: (selected: DeviceView[], all: DeviceView[]) => boolean,
  timeoutMs: number,
): Promise<DeviceView[]> {
  return until(async () => {
    const all = await listDevices(sandbox)
    const selected = select(all)
    return done(selected, all) ? selected : null
  }, timeoutMs)
}

/** Switch faults on the simulated devices through every fleet's control endpoint. */
async function setFaults(sandbox: Sandbox, body: { ids?: string[]; set: Record<string, unknown> }): Promise<void> {
  for (const url of Object.values(sandbox.control)) {
    const res = await fetch(`${url}/faults`, {
      method: Object.keys(body.set).length === 0 ? 'DELETE' : 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body.ids === undefined ? { percent: 100, set: body.set } : body),
    })
    if (!res.ok) throw new Error(`fault control ${url} answered HTTP ${res.status}: ${await res.text()}`)
  }
}
