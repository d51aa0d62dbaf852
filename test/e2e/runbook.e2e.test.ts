/**
 * The deployment runbook end to end, with real processes: liquid-broker, liquid-controller,
 * liquid-agent simulate and liquid-lln, on the machine's Redis. One sandbox serves the scenarios
 * in order, as an operator would run them on one fleet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as z from 'zod'
import { waitFor } from '@liquid-edge/test/harness'
import type { Sandbox } from '../sandbox/sandbox.js'
import { FAST_RULES, MODEL, startScenario, type Operator, type Scenario } from './operator.js'

const ALL = 'env in (staging,production)'
let sandbox: Sandbox
let op: Operator
const lln = (args: string[]) => op.lln(args)
const versions = () => op.versions()

const VerifyReportSchema = z.looseObject({
  verdict: z.string(),
  results: z.array(
    z.object({
      deviceId: z.string(),
      hardware: z.string(),
      modelVersion: z.string(),
      passed: z.boolean(),
      checks: z.array(z.looseObject({ name: z.string(), passed: z.boolean(), observed: z.number().nullable() })),
    }),
  ),
})
const MonitorFrameSchema = z.object({
  at: z.number(),
  cohorts: z.array(z.looseObject({ cohort: z.string() })),
  rollouts: z.array(z.looseObject({ id: z.string(), state: z.string(), step: z.number() })),
  rules: z.record(z.string(), z.array(z.looseObject({ rule: z.string(), outcome: z.string() }))),
})
const SlotsSchema = z.looseObject({
  results: z.array(z.looseObject({ slots: z.array(z.looseObject({ role: z.string(), model: z.looseObject({ version: z.string() }) })) })),
})
/** The model slots a device reports, asked through `liquid-lln status --metric slots`. */
async function deviceSlots(id: string): Promise<{ role: string; version: string }[]> {
  const r = await lln(['--json', 'status', '--target', id, '--metric', 'slots'])
  expect(r.code, r.stdout + r.stderr).toBe(0)
  return (SlotsSchema.parse(JSON.parse(r.stdout)).results[0]?.slots ?? []).map((s) => ({ role: s.role, version: s.model.version }))
}

let scenario: Scenario
beforeAll(async () => {
  scenario = await startScenario('runbook', {
    fleet: [
      { idPrefix: 'e2e-stm32', count: 4, profile: 'stm32h743', labels: { env: 'staging', hw: 'stm32h743' } },
      // 20 inferences/s: a rule judges each hardware class on its own samples (50 per window).
      { idPrefix: 'e2e-edge', count: 4, profile: 'x86-edge', labels: { env: 'production', hw: 'x86-edge' }, rate: 20 },
    ],
    ...FAST_RULES,
  })
  ;({ sandbox, op } = scenario)
}, 240_000)

afterAll(() => scenario.close(), 60_000)

describe('the deployment runbook on a simulated fleet', () => {
  it('deploys to the whole fleet and verifies it (smoke)', async () => {
    const deployed = await lln([
      'deploy',
      '--target',
      ALL,
      '--model',
      `${MODEL}@1.0.0`,
      '--strategy',
      'all',
      '--trial',
      '2s',
      '--wait',
      '--timeout',
      '3m',
    ])
    expect(deployed.code, deployed.stderr).toBe(0)
    expect(Object.values(await versions())).toEqual(Array(8).fill(`${MODEL}@1.0.0`))
    const verified = await lln(['--json', 'verify', '--target', ALL, '--test-suite', 'smoke'])
    expect(verified.code, verified.stdout + verified.stderr).toBe(0)
    expect(JSON.parse(verified.stdout)).toMatchObject({ verdict: 'pass' })
  }, 240_000)

  it('deploys to the staging stm32h743 devices and passes the integration suite there', async () => {
    const target = 'env=staging,hw=stm32h743'
    const deployed = await lln(['deploy', '--target', target, '--model', `${MODEL}@1.1.0`, '--strategy', 'all', '--trial', '2s', '--wait'])
    expect(deployed.code, deployed.stderr).toBe(0)
    for (const [id, active] of Object.entries(await versions()))
      expect(active, id).toBe(id.startsWith('e2e-stm32') ? `${MODEL}@1.1.0` : `${MODEL}@1.0.0`)
    const verified = await lln(['--json', 'verify', '--target', target, '--test-suite', 'integration'])
    const report = VerifyReportSchema.parse(JSON.parse(verified.stdout))
    expect(verified.code, verified.stdout + verified.stderr).toBe(0)
    expect(report.verdict).toBe('pass')
    expect(report.results.map((r) => [r.hardware, r.modelVersion])).toEqual(Array(4).fill(['stm32h743', '1.1.0']))
    // Every device judged its energy against the budget at its own workload, none skipped it.
    for (const r of report.results)
      expect(
        r.checks.find((c) => c.name === 'energy'),
        r.deviceId,
      ).toMatchObject({ passed: true, observed: expect.any(Number) as unknown })
  }, 240_000)

  it('rolls out 25% then 100% of every hardware class while monitor follows it', async () => {
    const { id } = await op.deploy([
      '--target',
      ALL,
      '--model',
      `${MODEL}@1.1.0`,
      '--steps',
      '25,100',
      '--stratify',
      'hw',
      '--bake',
      '3s',
      '--trial',
      '2s',
    ])
    // monitor, given the rollout's id, follows it and stops by itself when it finishes.
    const monitor = await lln(['--json', 'monitor', '--target', id, '--interval', '500ms', '--duration', '170'])
    expect(monitor.code, monitor.stderr).toBe(0)
    const frames = monitor.stdout
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => MonitorFrameSchema.parse(JSON.parse(line)))
    const mine = frames.map((f) => f.rollouts.find((r) => r.id === id)).filter((r) => r !== undefined)
    expect(mine.at(-1)?.state).toBe('completed')
    // It showed the rollout at its first step (the 25% of each class) before the second.
    expect(mine.some((r) => r.step === 0 && r.state !== 'completed')).toBe(true)
    expect(mine.findIndex((r) => r.step === 1)).toBeGreaterThan(mine.findIndex((r) => r.step === 0))
    // … with its rules' states and the fleet's cohorts.
    expect(frames.some((f) => (f.rules[id] ?? []).some((rule) => rule.rule === 'latency'))).toBe(true)
    expect(frames.some((f) => f.cohorts.some((c) => c.cohort.includes('1.1.0')))).toBe(true)
    expect(Object.values(await versions())).toEqual(Array(8).fill(`${MODEL}@1.1.0`))
  }, 240_000)

  it('rolls back one environment to the previous model and leaves the other alone', async () => {
    const r = await lln(['rollback', '--target', 'env=staging', '--to-previous', '--wait', '--timeout', '3m'])
    expect(r.code, r.stderr).toBe(0)
    const now = await versions()
    for (const [id, active] of Object.entries(now))
      expect(active, id).toBe(id.startsWith('e2e-stm32') ? `${MODEL}@1.0.0` : `${MODEL}@1.1.0`)
    // Repeating it changes nothing: those devices are where the rollback sent them.
    const repeated = await lln(['rollback', '--target', 'env=staging', '--to-previous', '--wait', '--timeout', '1m'])
    expect(repeated.code, repeated.stderr).toBe(0)
    expect(await versions()).toEqual(now)
    // Rolling back to that version again touches nothing: every staging device is already there.
    const again = await lln(['rollback', '--target', 'env=staging', '--to-version', '1.0.0', '--model', MODEL, '--wait', '--timeout', '1m'])
    expect(again.code, again.stderr).toBe(0)
    expect(await versions()).toEqual(now)
  }, 240_000)

  it('resumes a rollout when the controller is killed mid-step', async () => {
    const { id } = await op.deploy([
      '--target',
      'env=staging',
      '--model',
      `${MODEL}@1.1.0`,
      '--steps',
      '50,100',
      '--bake',
      '3s',
      '--trial',
      '2s',
    ])
    let last: unknown
    await waitFor(
      async () => {
        const r = await op.rollout(id)
        last = r
        return r.counts.succeeded > 0
      },
      { timeoutMs: 120_000, what: 'the first step to make progress' },
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}; rollout: ${JSON.stringify(last)}`)
    })
    await sandbox.restartController(true)
    const done = await waitFor(
      async () => {
        const r = await op.rollout(id)
        last = r
        return r.state === 'completed' ? true : null
      },
      { timeoutMs: 180_000, what: 'the rollout to complete after the restart' },
    ).catch(async (err: unknown) => {
      const decisions = (await op.events(id)).filter((e) => e.event === 'decision')
      throw new Error(`${String(err)}; rollout: ${JSON.stringify(last)}; decisions: ${JSON.stringify(decisions)}`)
    })
    expect(done).toBe(true)
    const final = await op.rollout(id)
    const staging = Object.entries(await versions()).filter(([deviceId]) => deviceId.startsWith('e2e-stm32'))
    expect(staging).toHaveLength(4)
    for (const [deviceId, active] of staging) expect(active, `${deviceId} after ${JSON.stringify(final)}`).toBe(`${MODEL}@1.1.0`)
  }, 300_000)

  it('rolls a latency regression back automatically, with the evidence in the audit stream', async () => {
    // The x86 edge nodes only: 2.0.0 is over the STM32's own energy budget, and its trial would
    // revert it there by itself (decisions.e2e.test.ts shows that).
    const { id } = await op.canary('hw=x86-edge', `${MODEL}@2.0.0`, ['--stratify', 'hw'])
    // 2.0.0 regresses: every inference of that version (only) gets 20x slower on the simulated devices
    // (the x86 class's threshold is ~6x 2.0.0's latency there: + 50 % is ~9x).
    await op.faults({ latencyFactor: 20, modelVersion: '2.0.0' })
    await waitFor(async () => (await op.rollout(id)).state === 'rolled-back', {
      timeoutMs: 120_000,
      what: 'the latency rule to roll the rollout back',
    })
    // The decision names the rule and carries its evidence.
    const decisions = (await op.events(id)).filter((e) => e.event === 'decision')
    expect(decisions).toHaveLength(1)
    expect(decisions[0]?.evidence?.rule).toMatch(/latency/)
    expect(decisions[0]?.evidence?.devices.length).toBeGreaterThan(0)
    await waitFor(async () => Object.values(await versions()).every((v) => v !== `${MODEL}@2.0.0`), {
      timeoutMs: 180_000,
      what: 'the canary devices to leave 2.0.0',
    })
  }, 420_000)

  it('stages a blue-green candidate beside the running model, verifies it there, switches, then decommissions the old one', async () => {
    await op.faults(null)
    const back = await lln(['rollback', '--target', 'env=staging', '--to-version', '1.0.0', '--model', MODEL, '--wait', '--timeout', '2m'])
    expect(back.code, back.stdout + back.stderr).toBe(0)
    const before = await versions()
    const staging = Object.keys(before).filter((id) => id.startsWith('e2e-stm32'))
    const one = staging[0] ?? 'no staging device'
    // The two colours of the staging devices, as named groups: a deploy to the green one stages there.
    for (const colour of ['blue', 'green']) {
      const added = await lln(['group', 'add', `staging-${colour}`, '--selector', 'env=staging', '--colour', colour])
      expect(added.code, added.stdout + added.stderr).toBe(0)
    }
    const staged = await lln([
      'deploy',
      '--target',
      'staging-green',
      '--model',
      `${MODEL}@1.1.0`,
      '--trial',
      '2s',
      '--wait',
      '--timeout',
      '3m',
    ])
    expect(staged.code, staged.stdout + staged.stderr).toBe(0)
    // Staged beside the running model: nothing switched yet.
    expect(await versions()).toEqual(before)
    expect(await deviceSlots(one)).toEqual(
      expect.arrayContaining([
        { role: 'active', version: '1.0.0' },
        { role: 'staged', version: '1.1.0' },
      ]),
    )
    // verify runs on the staged candidate, with the budgets of its package.
    const verified = await lln(['--json', 'verify', '--target', 'env=staging', '--test-suite', 'integration'])
    expect(verified.code, verified.stdout + verified.stderr).toBe(0)
    const report = VerifyReportSchema.parse(JSON.parse(verified.stdout))
    expect(report.results.map((r) => r.modelVersion)).toEqual(Array(4).fill('1.1.0'))

    const switched = await lln(['switch', '--from', 'staging-blue', '--to', 'staging-green', '--wait', '--timeout', '3m'])
    expect(switched.code, switched.stdout + switched.stderr).toBe(0)
    for (const [id, active] of Object.entries(await versions()))
      expect(active, id).toBe(id.startsWith('e2e-stm32') ? `${MODEL}@1.1.0` : before[id])
    expect(await deviceSlots(one)).toEqual(expect.arrayContaining([{ role: 'previous', version: '1.0.0' }]))

    const freed = await lln(['--json', 'decommission', '--target', 'env=staging'])
    expect(freed.code, freed.stdout + freed.stderr).toBe(0)
    for (const id of staging) expect(await deviceSlots(id), id).toEqual([{ role: 'active', version: '1.1.0' }])
  }, 300_000)
})
