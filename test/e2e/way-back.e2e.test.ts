/**
 * No device left behind, with real processes: a first install that the rules roll back leaves
 * every canary off the release — with no model (the default fallback) or on the fallback version
 * the deploy named — and `rollout show` and `events` account for each.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as z from 'zod'
import { waitFor } from '@liquid-edge/test/harness'
import { listDevices } from '../sandbox/fleet.js'
import type { Sandbox } from '../sandbox/sandbox.js'
import { FAST_RULES, MODEL, startScenario, type Operator, type Scenario } from './operator.js'

const NEW = `${MODEL}@1.1.0`
const FALLBACK = `${MODEL}@1.0.0`

const ShownSchema = z.looseObject({
  state: z.string(),
  devices_: z.array(
    z.looseObject({
      id: z.string(),
      outcome: z.string(),
      ended: z.string(),
      why: z.string(),
      back: z.looseObject({ route: z.string(), to: z.string().nullable(), state: z.string() }).nullable(),
    }),
  ),
})

let sandbox: Sandbox
let op: Operator
let scenario: Scenario
let started: Promise<Scenario> | undefined
// On a busy machine the sandbox can take minutes to come up; it gives up by itself when the fleet
// stops making progress.
beforeAll(async () => {
  scenario = await (started = startScenario('wayback', {
    // The fast rules judge 1.5 s windows and need 50 inferences in each. Two canaries asked for 20/s
    // ran ~17/s and gave 44–61 per window (a telemetry window lands in one bucket or its neighbour),
    // so the sustained error-rate rule rarely saw its 13 windows in a row judged: 40/s leaves room.
    fleet: [{ idPrefix: 'wb', count: 4, profile: 'stm32h743', labels: { env: 'staging', hw: 'stm32h743' }, rate: 40 }],
    ...FAST_RULES,
  }))
  ;({ sandbox, op } = scenario)
}, 600_000)

// Closes the sandbox even when its start failed or outlived the hook.
afterAll(async () => (await started?.catch(() => undefined))?.close(), 660_000)

async function shown(id: string): Promise<z.infer<typeof ShownSchema>> {
  const r = await op.lln(['--json', 'rollout', 'show', id])
  if (r.code !== 0) throw new Error(`rollout show exited ${r.code}: ${r.stderr}`)
  return ShownSchema.parse(JSON.parse(r.stdout))
}

/**
 * What the fleet and the controller show of a rollout and its way back, for a wait that timed out:
 * every rollout, the rollout's own devices table, its rules' last judgement and each device.
 */
async function state(id: string): Promise<string> {
  const read = async (what: string, f: () => Promise<unknown>): Promise<string> =>
    `${what}: ${await f().then(
      (v) => JSON.stringify(v),
      (err: unknown) => `unreadable (${String(err)})`,
    )}`
  const lines = await Promise.all([
    read('rollouts', async () => JSON.parse((await op.lln(['--json', 'rollout', 'list'])).stdout) as unknown),
    read(`rollout ${id}`, () => shown(id)),
    read('rules', () => op.rules(id)),
    read('devices', async () => (await listDevices(sandbox)).map(({ labels: _labels, ...d }) => d)),
  ])
  return lines.join('\n')
}

/** `waitFor`, and when it times out, an error that also says where the rollout and the devices stand. */
async function waitShowing<T>(id: string, predicate: () => Promise<T>, o: { timeoutMs: number; what: string }): Promise<NonNullable<T>> {
  try {
    return await waitFor(predicate, o)
  } catch (err) {
    throw new Error(`${String(err)}\n${await state(id)}`, { cause: err })
  }
}

/** `rollout show` once it shows every canary converged where it was sent back. */
function everyCanaryConverged(id: string): Promise<z.infer<typeof ShownSchema>> {
  return waitShowing(
    id,
    async () => {
      const s = await shown(id)
      return s.devices_.every((d) => d.back?.state === 'converged') ? s : null
    },
    { timeoutMs: 60_000, what: 'the rollout to show every canary converged' },
  )
}

/** Deploy NEW as a first install on half of the fleet, then break it: the error-rate rule rolls it back. */
async function firstInstallRolledBack(extra: string[]): Promise<{ id: string; canaries: string[] }> {
  const r = await op.canary('env=staging', NEW, extra)
  const canaries = Object.entries(await op.versions())
    .filter(([, v]) => v === NEW)
    .map(([id]) => id)
    .sort()
  expect(canaries).toHaveLength(2)
  await op.faults({ errorRate: 0.5, modelVersion: '1.1.0' })
  await waitShowing(r.id, async () => (await op.rollout(r.id)).state === 'rolled-back', {
    timeoutMs: 180_000,
    what: 'the rules to roll back',
  })
  return { id: r.id, canaries }
}

describe('a first install rolled back', () => {
  it('leaves every canary with no model by default, and the rollout and its events account for each', async () => {
    const { id, canaries } = await firstInstallRolledBack([])
    await waitShowing(
      id,
      async () => (await listDevices(sandbox)).filter((d) => canaries.includes(d.id)).every((d) => d.active === null && d.phase === 'idle'),
      { timeoutMs: 120_000, what: `every canary (${canaries.join(', ')}) with no model` },
    )
    await op.faults(null)
    const table = await everyCanaryConverged(id)
    expect(table.devices_.map((d) => [d.id, d.ended, d.back?.route, d.back?.to])).toEqual(
      canaries.map((c) => [c, 'no model', 'fallback', null]),
    )
    const text = await op.lln(['rollout', 'show', id])
    for (const c of canaries)
      expect(text.stdout).toMatch(
        new RegExp(`${c} .*no model .*fallback \\(no previous model \\(first install\\); fallback: no model\\): done`),
      )
    const returned = (await op.events(id)).filter((e) => e.event === 'devices-returned')
    expect(returned.length).toBeGreaterThanOrEqual(2)
    const last = z
      .looseObject({ devices: z.array(z.looseObject({ deviceId: z.string(), outcome: z.string(), model: z.null() })) })
      .parse(returned.at(-1))
    expect(last.devices.map((d) => [d.deviceId, d.outcome]).sort()).toEqual(canaries.map((c) => [c, 'converged']))
    const events = await op.lln(['events', '--rollout', id])
    for (const c of canaries) expect(events.stdout).toContain(`${c}  → no model  (fallback, converged)`)
  }, 300_000)

  it('sends every canary to the fallback version the deploy named', async () => {
    // A healthy fleet to start from, whatever the test before left.
    await op.faults(null)
    await op.settled()
    const { id, canaries } = await firstInstallRolledBack(['--fallback', FALLBACK, '--supersede'])
    await waitShowing(
      id,
      async () => {
        const versions = await op.versions()
        return canaries.every((c) => versions[c] === FALLBACK)
      },
      { timeoutMs: 120_000, what: `every canary (${canaries.join(', ')}) on ${FALLBACK}` },
    )
    await op.faults(null)
    const table = await everyCanaryConverged(id)
    expect(table.devices_.map((d) => [d.id, d.ended, d.back?.route])).toEqual(canaries.map((c) => [c, FALLBACK, 'fallback']))
    for (const d of table.devices_) expect(d.why).toContain(`fallback ${FALLBACK}`)
  }, 300_000)
})
