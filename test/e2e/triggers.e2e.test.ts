/**
 * Every automatic rollback trigger of the runbook, and a device that misses a rollout, with real
 * processes on one simulated fleet: the error-rate, energy, crash and unresponsive rules fire on
 * faults injected into the new release only, and the devices end back on the old one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '@liquid-edge/test/harness'
import { listDevices, type DeviceView } from '../sandbox/fleet.js'
import type { Sandbox } from '../sandbox/sandbox.js'
import { FAST_RULES, MODEL, startScenario, type Operator, type Scenario } from './operator.js'

const OLD = `${MODEL}@1.0.0`
const NEW = `${MODEL}@1.1.0`
let sandbox: Sandbox
let op: Operator

let scenario: Scenario
beforeAll(async () => {
  scenario = await startScenario('triggers', {
    // One hardware class: the demo models' budgets are set for it alone (36 mW, 3 ms).
    fleet: [
      { idPrefix: 'trg', count: 6, profile: 'stm32h743', labels: { env: 'staging', hw: 'stm32h743' }, rate: 20 },
      { idPrefix: 'trg-late', count: 1, profile: 'stm32h743', labels: { env: 'staging', hw: 'stm32h743' }, rate: 20 },
    ],
    ...FAST_RULES,
  })
  ;({ sandbox, op } = scenario)
  const first = await op.lln(['deploy', '--target', 'env=staging', '--model', OLD, '--strategy', 'all', '--trial', '2s', '--wait'])
  expect(first.code, first.stdout + first.stderr).toBe(0)
}, 240_000)

afterAll(() => scenario.close(), 60_000)

/** Deploy NEW in two steps with a long bake, so that rules judge the first step's devices. */
async function canary(): Promise<string> {
  // --supersede: a scenario that failed must not leave the next one refused.
  const r = await op.canary('env=staging', NEW, ['--supersede'])
  return r.id
}

/** The one device of the trg-late fleet, as the controller sees it. */
async function lateDevice(): Promise<DeviceView> {
  const found = (await listDevices(sandbox)).find((d) => d.id.startsWith('trg-late'))
  if (found === undefined) throw new Error('the trg-late device is not registered')
  return found
}

/** The fault is cleared and no device is left on NEW. */
async function backOnOld(): Promise<void> {
  await op.faults(null)
  await waitFor(async () => Object.values(await op.versions()).every((v) => v === OLD), {
    timeoutMs: 120_000,
    what: `every device back on ${OLD}`,
  })
}

describe('automatic rollback triggers', () => {
  it.each([
    { rule: 'error-rate', fault: { errorRate: 0.5 } },
    { rule: 'energy', fault: { energyFactor: 3 } },
  ])(
    'rolls the rollout back when the $rule rule fires on the new release',
    async ({ rule, fault }) => {
      const id = await canary()
      await op.faults({ ...fault, modelVersion: '1.1.0' })
      await waitFor(async () => (await op.rollout(id)).state === 'rolled-back', {
        timeoutMs: 120_000,
        what: `the ${rule} rule to roll back`,
      })
      const decisions = (await op.events(id)).filter((e) => e.event === 'decision' && e.action === 'rollback-rollout')
      expect(decisions.map((d) => d.evidence?.rule)).toEqual([rule])
      expect(decisions[0]?.evidence?.devices.length).toBeGreaterThan(0)
      await backOnOld()
    },
    300_000,
  )

  it('rolls back each device that crashes on the new release', async () => {
    const id = await canary()
    const cohort = Object.entries(await op.versions())
      .filter(([, v]) => v === NEW)
      .map(([deviceId]) => deviceId)
    const crashing = cohort[0] ?? 'no device on the release'
    await op.faults({ crash: true }, { ids: [crashing] })
    // The restarted agent reports the crash; the device-crashed rule names it.
    const crashRule = await waitFor(
      async () => (await op.rules(id)).find((r) => r.rule === 'device-crashed' && r.devices.includes(crashing)),
      { timeoutMs: 120_000, what: 'the device-crashed rule to name the device' },
    )
    expect(crashRule).toMatchObject({ outcome: 'breached', firing: true })
    const decision = await waitFor(
      async () => (await op.events(id)).find((e) => e.event === 'decision' && e.action === 'rollback-device'),
      { timeoutMs: 60_000, what: 'the device rollback decision' },
    )
    // One decision per device: the crash rule's, unless its reboot outlasted the unresponsive window first.
    expect(decision.evidence).toMatchObject({
      devices: [crashing],
      rule: expect.stringMatching(/^device-(crashed|unresponsive)$/) as unknown,
    })
    await waitFor(async () => (await op.versions())[crashing] === OLD, { timeoutMs: 120_000, what: `${crashing} back on ${OLD}` })
    // The others stay on the release until the operator decides.
    const now = await op.versions()
    for (const other of cohort.slice(1)) expect(now[other], other).toBe(NEW)
    const aborted = await op.lln(['rollback', '--rollout', id, '--to-previous', '--wait', '--timeout', '2m'])
    expect(aborted.code, aborted.stdout + aborted.stderr).toBe(0)
    await backOnOld()
  }, 300_000)

  it('sends a device that stops answering on the new release back, through its retained desired state', async () => {
    // The canary is the one device of the trg-late fleet, so that stopping that fleet silences it alone.
    const late = (await lateDevice()).id
    const r = await op.deploy([
      '--target',
      'env=staging',
      '--model',
      NEW,
      '--strategy',
      'canary',
      '--canary',
      late,
      '--bake',
      '10m',
      '--trial',
      '2s',
      '--supersede',
    ])
    await op.firstStepSucceeded(r.id)
    await sandbox.stopFleet('trg-late')
    const decision = await waitFor(
      async () => (await op.events(r.id)).find((e) => e.event === 'decision' && e.evidence?.rule === 'device-unresponsive'),
      { timeoutMs: 120_000, what: 'the device-unresponsive rule' },
    )
    expect(decision).toMatchObject({ action: 'rollback-device', evidence: { devices: [late] } })
    // Its only canary failed, over the failure threshold: the rules roll the whole rollout back.
    await waitFor(async () => (await op.rollout(r.id)).state === 'rolled-back', { timeoutMs: 60_000, what: 'the rollout rolled back' })
    expect((await op.events(r.id)).some((e) => e.action === 'rollback-rollout' && e.evidence?.rule === 'failure-threshold')).toBe(true)
    expect((await op.versions())[late]).toBe(NEW)
    // Back online, it reads the desired state it missed and returns to the old model by itself.
    sandbox.startFleet('trg-late')
    await waitFor(async () => (await op.versions())[late] === OLD, { timeoutMs: 120_000, what: `${late} back on ${OLD}` })
    await op.settled()
    await backOnOld()
  }, 300_000)
})

describe('a device offline through a rollout', () => {
  it('misses it, does not hold it up past its deadline, and converges when it returns', async () => {
    await op.settled()
    await sandbox.stopFleet('trg-late')
    // Gone well before the rollout (longer than the unresponsive window): it never receives the model.
    await waitFor(async () => (await lateDevice()).online === false && Date.now() - ((await lateDevice()).lastTelemetryAt ?? 0) > 3000, {
      what: 'the late device to be gone for a while',
    })
    const r = await op.lln([
      '--json',
      'deploy',
      '--target',
      'env=staging',
      '--model',
      NEW,
      '--strategy',
      'all',
      '--trial',
      '2s',
      '--deadline',
      '15s',
      '--success',
      '80%',
      '--failure',
      '20%',
      '--wait',
      '--timeout',
      '3m',
    ])
    expect(r.code, r.stdout + r.stderr).toBe(0)
    const done = await op.rollout((JSON.parse(r.stdout) as { id: string }).id)
    expect(done).toMatchObject({ state: 'completed', counts: { cohort: 7, succeeded: 6, silent: 1 } })
    const late = (await lateDevice()).id
    expect((await op.versions())[late]).toBe(OLD)
    // Back online, it reads its retained desired state and installs the release on its own.
    sandbox.startFleet('trg-late')
    await waitFor(async () => (await op.versions())[late] === NEW, { timeoutMs: 120_000, what: `${late} to converge on ${NEW}` })
  }, 300_000)
})
