/**
 * Decisions on exact numbers, with real processes (liquid-broker, liquid-controller, two simulated
 * fleets of different hardware, liquid-lln): a release whose slowest inferences regress while its
 * median does not is rolled back by the latency rule on the true mean; a release whose outputs go
 * wrong fails `evaluate` and is rolled back by the accuracy gate; and a mixed fleet is judged per
 * hardware class — the same release confirms on the x86 nodes and is reverted on the STM32s, each by
 * its own class's budgets.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as z from 'zod'
import { waitFor } from '@liquid-edge/test/harness'
import { apiGet, listDevices } from '../sandbox/fleet.js'
import type { Sandbox } from '../sandbox/sandbox.js'
import { FAST_RULES, MODEL, startScenario, type Operator, type Scenario } from './operator.js'

const V1 = `${MODEL}@1.0.0`
const V2 = `${MODEL}@1.1.0`
const V3 = `${MODEL}@2.0.0`
const ALL = 'env=staging'
let sandbox: Sandbox
let op: Operator

const CohortSchema = z.looseObject({
  cohort: z.string(),
  latencyAvgMs: z.number().nullable(),
  latencyP50Ms: z.number().nullable(),
  latencyP99Ms: z.number().nullable(),
  approximateWindows: z.number(),
})
const TelemetrySchema = z.looseObject({ cohorts: z.array(CohortSchema) })
const DeviceSchema = z.looseObject({
  id: z.string(),
  active: z.string().nullable(),
  phase: z.string().nullable(),
  error: z.string().nullable(),
})
const RuleStateSchema = z.looseObject({ rule: z.string(), outcome: z.string(), hardware: z.string().nullable().optional() })
const CohortDevicesSchema = z.looseObject({
  devices_: z.array(z.looseObject({ id: z.string(), outcome: z.string(), error: z.string().nullable() })),
})
const EvaluateSchema = z.looseObject({
  verdict: z.string(),
  minAccuracy: z.number().nullable(),
  results: z.array(z.looseObject({ deviceId: z.string(), modelVersion: z.string(), accuracy: z.number(), samples: z.number() })),
  reasons: z.array(z.looseObject({ code: z.string(), severity: z.string(), deviceId: z.string().optional() })),
})
const StatesSchema = z.looseObject({ states: z.looseObject({ results: z.array(RuleStateSchema) }).nullable() })

let scenario: Scenario
beforeAll(async () => {
  scenario = await startScenario('decisions', {
    fleet: [
      { idPrefix: 'dec-stm32', count: 4, profile: 'stm32h743', labels: { env: 'staging', hw: 'stm32h743' }, rate: 20 },
      { idPrefix: 'dec-edge', count: 4, profile: 'x86-edge', labels: { env: 'staging', hw: 'x86-edge' }, rate: 20 },
    ],
    ...FAST_RULES,
  })
  ;({ sandbox, op } = scenario)
  const first = await op.lln(['deploy', '--target', ALL, '--model', V1, '--strategy', 'all', '--trial', '2s', '--wait'])
  expect(first.code, first.stdout + first.stderr).toBe(0)
}, 240_000)

afterAll(() => scenario.close(), 60_000)

/** Every device back on `version`, no rollout active, no fault left. */
async function backOn(version: string): Promise<void> {
  await op.faults(null)
  await waitFor(async () => Object.values(await op.versions()).every((v) => v === version), {
    timeoutMs: 120_000,
    what: `every device on ${version}`,
  })
  await op.settled()
}

describe('decisions on exact window statistics', () => {
  it('rolls back a release whose slowest inferences regress while its median does not: the latency rule judges the true mean', async () => {
    // The x86 nodes: a slow tail there costs little energy, so the latency rule is the one to act.
    const r = await op.canary('hw=x86-edge', V2, ['--supersede'])
    // One inference in five takes 1000× longer on 1.1.0: the median is untouched, the mean grows ~200×.
    await op.faults({ tailShare: 0.2, tailFactor: 1000, modelVersion: '1.1.0' })
    const decision = await waitFor(
      async () => (await op.events(r.id)).find((e) => e.event === 'decision' && e.action === 'rollback-rollout'),
      { timeoutMs: 120_000, what: 'the latency rule to roll the release back' },
    )
    expect(decision.evidence?.rule).toBe('latency')
    const evidence = z
      .looseObject({ observed: z.number(), threshold: z.number(), hardware: z.string(), approximate: z.boolean().optional() })
      .parse(decision.evidence)
    expect(evidence.hardware).toBe('x86-edge')
    expect(evidence.observed).toBeGreaterThan(evidence.threshold)
    expect(evidence.approximate).toBeUndefined()
    // What the controller folded for 1.1.0 over the last seconds: the median stays far below the
    // limit the mean broke, while the 99th percentile sits in the slow tail. An average of the
    // windows' medians (what the rule judged before) would never have fired.
    const v2 = (await apiGet(sandbox, '/v1/telemetry?spanMs=5000', TelemetrySchema)).cohorts.find((c) => c.cohort === V2)
    if (v2?.latencyP50Ms == null || v2.latencyP99Ms == null || v2.latencyAvgMs == null)
      throw new Error(`no 1.1.0 latency: ${JSON.stringify(v2)}`)
    expect(v2.latencyP50Ms).toBeLessThan(evidence.threshold / 1.5)
    expect(v2.latencyP99Ms).toBeGreaterThan(10 * v2.latencyP50Ms)
    expect(v2.latencyAvgMs).toBeGreaterThan(3 * v2.latencyP50Ms)
    expect(v2.approximateWindows).toBe(0)
    await waitFor(async () => (await op.rollout(r.id)).state === 'rolled-back', { timeoutMs: 60_000, what: 'the rollout rolled back' })
    await backOn(V1)
  }, 300_000)

  it('rolls back a release whose outputs go wrong: evaluate reports accuracy below the minimum and the accuracy gate rolls it back', async () => {
    const r = await op.canary('hw=x86-edge', V2, ['--supersede'])
    const canaries = CohortDevicesSchema.parse(await op.rollout(r.id))
      .devices_.map((d) => d.id)
      .sort()
    // The first step's share of the four x86 nodes (by hash: not always exactly two); the rest stay on 1.0.0.
    expect(canaries.length).toBeGreaterThan(0)
    expect(canaries.length).toBeLessThan(4)
    // Until the devices are asked to evaluate, the gate has nothing to judge: unknown, never healthy.
    await waitFor(async () => (await op.rules(r.id)).some((x) => x.rule === 'accuracy' && x.outcome === 'unknown'), {
      timeoutMs: 60_000,
      what: 'the accuracy gate unknown before any evaluation',
    })
    // 1.1.0's first output gets +5: that class wins nearly every time, whatever the input.
    await op.faults({ outputBias: 5, modelVersion: '1.1.0' })
    const ev = await op.lln(['--json', 'evaluate', '--target', 'hw=x86-edge', '--dataset', 'validation'])
    expect(ev.code, ev.stdout + ev.stderr).toBe(7)
    const report = EvaluateSchema.parse(JSON.parse(ev.stdout))
    expect(report.verdict).toBe('fail')
    expect(report.minAccuracy).toBe(0.75)
    // The canaries on 1.1.0 fall under the package's minimum; the devices still on 1.0.0 do not.
    const low = report.reasons.filter((x) => x.code === 'VERDICT_ACCURACY_LOW')
    expect(low.map((x) => x.deviceId).sort()).toEqual(canaries)
    for (const d of report.results) {
      if (!canaries.includes(d.deviceId)) expect(d.accuracy).toBeGreaterThanOrEqual(0.75)
      else expect(d.modelVersion === '1.1.0' && d.accuracy < 0.75, JSON.stringify(d)).toBe(true)
    }
    // The devices count what they evaluated in their telemetry; the gate judges the canaries' share.
    const decision = await waitFor(
      async () => (await op.events(r.id)).find((e) => e.event === 'decision' && e.action === 'rollback-rollout'),
      { timeoutMs: 120_000, what: 'the accuracy gate to roll the release back' },
    )
    expect(decision.evidence?.rule).toBe('accuracy')
    const evidence = z
      .looseObject({ metric: z.string(), observed: z.number(), threshold: z.number(), sampleSize: z.number(), hardware: z.string() })
      .parse(decision.evidence)
    expect(evidence).toMatchObject({ metric: 'accuracy', threshold: 0.75, hardware: 'x86-edge' })
    expect(evidence.observed).toBeLessThan(0.75)
    // Judged on what the canaries evaluated (one device's set is enough), nothing from the devices on 1.0.0.
    const canarySamples = report.results.filter((d) => canaries.includes(d.deviceId)).reduce((n, d) => n + d.samples, 0)
    expect(evidence.sampleSize).toBeGreaterThanOrEqual(30)
    expect(evidence.sampleSize).toBeLessThanOrEqual(canarySamples)
    expect(decision.evidence?.devices.length).toBeGreaterThan(0)
    for (const id of decision.evidence?.devices ?? []) expect(canaries).toContain(id)
    await waitFor(async () => (await op.rollout(r.id)).state === 'rolled-back', { timeoutMs: 60_000, what: 'the rollout rolled back' })
    await backOn(V1)
  }, 300_000)

  it('judges a mixed fleet per hardware class: 2.0.0 confirms on the x86 nodes and reverts on the STM32s, over their own energy budget', async () => {
    const r = await op.deploy([
      '--target',
      ALL,
      '--model',
      V3,
      '--steps',
      '50,100',
      '--stratify',
      'hw',
      '--bake',
      '10m',
      '--trial',
      '3s',
      '--supersede',
    ])
    // Half of each class was sent 2.0.0: wait until each of those devices has an outcome.
    let last: unknown = null
    const done = await waitFor(
      async () => {
        const { devices_: sent } = CohortDevicesSchema.parse(await op.rollout(r.id))
        last = sent
        const classes = new Set(sent.map((d) => d.id.split('-')[1]))
        return classes.size === 2 && sent.every((d) => d.outcome !== 'pending') ? sent : null
      },
      { timeoutMs: 120_000, what: 'an outcome for every canary of both classes' },
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}; last seen: ${JSON.stringify(last)}`)
    })
    // The x86 canaries confirmed 2.0.0. Each STM32 canary went back over the STM32's energy budget,
    // whichever judged first: its own trial (it reverts and says which budgets it used), or the
    // controller's energy rule judged for the STM32 class, which sends that class back and no other.
    for (const d of done.filter((x) => x.id.startsWith('dec-edge'))) expect(d).toMatchObject({ outcome: 'succeeded' })
    for (const d of done.filter((x) => x.id.startsWith('dec-stm32'))) {
      expect(d.outcome).toBe('failed')
      expect(d.error).toMatch(
        /AGENT_TRIAL_ENERGY.*stm32h743|^rule energy \[stm32h743, its budgets\].*taken out of the rollout; sent back to 1\.0\.0/,
      )
    }
    const decisions = (await op.events(r.id)).filter((e) => e.event === 'decision')
    expect(decisions.filter((e) => e.action === 'rollback-rollout')).toEqual([])
    for (const e of decisions.filter((x) => x.action === 'rollback-class'))
      expect(e.evidence).toMatchObject({ rule: 'energy', hardware: 'stm32h743' })
    if (done.some((d) => d.error?.startsWith('rule energy') === true))
      expect(decisions.filter((e) => e.action === 'rollback-class')).toHaveLength(1)
    const x86 = z
      .array(DeviceSchema)
      .parse(await listDevices(sandbox))
      .filter((d) => done.some((c) => c.id === d.id && d.id.startsWith('dec-edge')))
    expect(x86.every((d) => d.active === V3)).toBe(true)
    // The controller judges the energy rule per class too: the x86 canaries against the x86 budget.
    await waitFor(
      async () =>
        (await apiGet(sandbox, `/v1/rollouts/${r.id}/rules`, StatesSchema)).states?.results.some(
          (x) => x.rule === 'energy' && x.hardware === 'x86-edge' && x.outcome === 'healthy',
        ),
      { timeoutMs: 60_000, what: 'the energy rule healthy for the x86 class' },
    )
    const back = await op.lln(['rollback', '--rollout', r.id, '--to-previous', '--wait', '--timeout', '2m'])
    expect(back.code, back.stdout + back.stderr).toBe(0)
    await backOn(V1)
  }, 300_000)
})
