import { describe, expect, it } from 'vitest'
import { redisClient, waitFor } from '@liquid-edge/test/harness'
import type { Controller } from '../src/index.js'
import { api } from './helpers.js'
import { telemetryEnv } from './telemetry/env.js'
import { ERROR_RULE, V1, V2, byModel, scenario, type AuditEvent, type Scenario } from './telemetry/scenario.js'

const decisions = (events: AuditEvent[], action: string) =>
  events.filter((e) => e.event === 'decision' && e.action === action && e.dryRun !== true)

/** The energy rule over the class's budget + 25 %, and budgets where the STM32's is 300 mW and the x86's 6.2 W. */
const energyRule = (action: 'pause' | 'rollback-rollout') =>
  ({ name: 'energy', metric: 'energy_avg', comparison: 'budget', threshold: 0.25, windowMs: 300, minSamples: 3, action }) as const
const STM32_BUDGETS = { energyBudgetMw: 6200, budgets: { stm32h743: { energyBudgetMw: 300 } } }

/** Every device sends `mw` of power on V2, with its own hardware class. */
function power(s: Scenario, mw: number): void {
  const hw = new Map(s.devices.map((d) => [d.id, d.hardware]))
  const v2 = byModel(s.devices, { avgMw: mw })
  s.telemetry.run(s.ids, (dev) => ({ ...v2(dev), hardware: hw.get(dev) }))
}

describe('auto-rollback rules', () => {
  it('error-rate rule rolls the rollout back once, with its evidence, when the canary cohort errors', async () => {
    await using env = await telemetryEnv()
    const c = await env.start()
    await using s = await scenario(env, c)
    const id = await s.deployV2([ERROR_RULE])
    s.telemetry.run(s.ids, byModel(s.devices, { errors: 10 }))
    await waitFor(async () => (await s.state(id)) === 'rolled-back', { timeoutMs: 15_000, what: 'rolled back' })
    await waitFor(() => s.devices.every((d) => d.active?.version === V1.version), { timeoutMs: 15_000, what: 'devices back on V1' })
    const rb = decisions(await s.events(id), 'rollback-rollout')
    expect(rb).toHaveLength(1)
    expect(rb[0]?.evidence).toMatchObject({
      rule: 'error-rate',
      metric: 'error_rate',
      comparison: 'absolute',
      threshold: 0.1,
      windowMs: 300,
    })
    expect(rb[0]?.evidence?.observed).toBeCloseTo(0.5, 1)
    expect(rb[0]?.evidence?.sampleSize).toBeGreaterThanOrEqual(40)
    expect(rb[0]?.evidence?.devices.length).toBeGreaterThan(0)
    // Prometheus shows the candidate cohort's error rate.
    const metrics = await (await fetch(`${c.url}/metrics`)).text()
    expect(metrics).toMatch(/lln_cohort_error_rate\{model="kws",version="2\.0\.0",cohort="[a-z]+"\} 0\.5/)
  })

  it('judges a new rollout of a version only on telemetry sent since it began', async () => {
    await using env = await telemetryEnv()
    const c = await env.start()
    await using s = await scenario(env, c)
    const first = await s.deployV2([ERROR_RULE])
    s.telemetry.run(s.ids, byModel(s.devices, { errors: 10 }))
    await waitFor(async () => (await s.state(first)) === 'rolled-back', { timeoutMs: 15_000, what: 'the first rollout rolled back' })
    await waitFor(() => s.devices.every((d) => d.active?.version === V1.version), { timeoutMs: 15_000, what: 'devices back on V1' })
    const call = api(c)
    type Listed = { rollouts: { state: string }[] }
    await waitFor(
      async () => (await call<Listed>('GET', '/v1/rollouts')).body.rollouts.every((r) => ['completed', 'rolled-back'].includes(r.state)),
      { timeoutMs: 15_000, what: 'the rollback to settle' },
    )
    // The fix is in: V2 runs clean now. The first rollout's errors are still inside this rule's minute.
    s.telemetry.run(s.ids, byModel(s.devices, { errors: 0 }))
    const second = await s.deployV2([{ ...ERROR_RULE, windowMs: 60_000, sustainedMs: 0 }])
    type States = { states: { results: { rule: string; outcome: string; sampleSize: number }[] } | null }
    const result = await waitFor(
      async () => {
        const r = (await call<States>('GET', `/v1/rollouts/${second}/rules`)).body.states?.results[0]
        return r?.outcome === 'healthy' ? r : null
      },
      { timeoutMs: 15_000, what: 'the second rollout judged healthy' },
    )
    expect(result.sampleSize).toBeGreaterThan(0)
    expect(await s.state(second)).toBe('running')
    expect(decisions(await s.events(second), 'rollback-rollout')).toHaveLength(0)
  })

  it('judges a rollout on its own devices, not on others running the same version', async () => {
    await using env = await telemetryEnv()
    const c = await env.start()
    await using s = await scenario(env, c)
    const id = await s.deployV2([ERROR_RULE])
    // Four devices outside this rollout also run V2, and fail half their inferences.
    const outsiders = ['out-0', 'out-1', 'out-2', 'out-3']
    const ours = byModel(s.devices, { errors: 0 })
    s.telemetry.run([...s.ids, ...outsiders], (deviceId) => (deviceId.startsWith('out-') ? { model: V2, errors: 10 } : ours(deviceId)))
    const call = api(c)
    type States = { states: { results: { rule: string; outcome: string; observed: number | null; sampleSize: number }[] } | null }
    const result = await waitFor(
      async () => {
        const r = (await call<States>('GET', `/v1/rollouts/${id}/rules`)).body.states?.results[0]
        return r?.outcome === 'healthy' && r.sampleSize >= 3 * ERROR_RULE.minSamples! ? r : null
      },
      { timeoutMs: 15_000, what: 'the rollout judged on its own devices' },
    )
    expect(result.observed).toBe(0)
    expect(await s.state(id)).toBe('running')
    expect(decisions(await s.events(id), 'rollback-rollout')).toHaveLength(0)
  })

  it('error-rate rule holds on a healthy cohort and reports its outcome', async () => {
    await using env = await telemetryEnv()
    const c = await env.start()
    await using s = await scenario(env, c)
    const id = await s.deployV2([
      ERROR_RULE,
      { ...ERROR_RULE, name: 'no-data-rule', metric: 'energy_avg', comparison: 'budget', minSamples: 1 },
    ])
    s.telemetry.run(s.ids, byModel(s.devices, { errors: 1 }))
    const call = api(c)
    type States = { states: { results: { rule: string; outcome: string }[] } | null }
    const healthy = async () => (await call<States>('GET', `/v1/rollouts/${id}/rules`)).body.states?.results
    const results = await waitFor(async () => ((await healthy())?.[0]?.outcome === 'healthy' ? await healthy() : null), {
      timeoutMs: 10_000,
    })
    // The model declares no energy budget: that rule has no data, which is not healthy.
    expect(results.find((r) => r.rule === 'no-data-rule')?.outcome).toBe('no-data')
    const before = (await s.events(id)).length
    await waitFor(async () => ((await healthy())?.[0]?.outcome === 'healthy' ? true : null), { timeoutMs: 5000 })
    expect(await s.state(id)).toBe('running')
    expect(decisions(await s.events(id), 'rollback-rollout')).toHaveLength(0)
    expect((await s.events(id)).length).toBe(before)
  })

  it('dry-run reports the decision and acts on nothing', async () => {
    await using env = await telemetryEnv()
    const c = await env.start()
    await using s = await scenario(env, c)
    const id = await s.deployV2([ERROR_RULE], true)
    s.telemetry.run(s.ids, byModel(s.devices, { errors: 10 }))
    const dry = await waitFor(async () => (await s.events(id)).find((e) => e.event === 'decision' && e.dryRun === true), {
      timeoutMs: 10_000,
    })
    expect(dry.action).toBe('rollback-rollout')
    expect(dry.evidence?.rule).toBe('error-rate')
    expect(await s.state(id)).toBe('running')
    expect(s.devices.every((d) => d.active?.version === V2.version)).toBe(true)
    expect(s.devices.every((d) => d.commandsSeen.length === 0)).toBe(true)
  })

  it('two controllers take exactly one decision and send one set of rollbacks', async () => {
    await using env = await telemetryEnv()
    const a = await env.start('ctl-a')
    await env.start('ctl-b')
    await using s = await scenario(env, a)
    const id = await s.deployV2([ERROR_RULE])
    const desiredBefore = s.devices.map((d) => d.desiredSeen.length)
    s.telemetry.run(s.ids, byModel(s.devices, { errors: 10 }))
    await waitFor(() => s.devices.every((d) => d.active?.version === V1.version), { timeoutMs: 15_000, what: 'devices back on V1' })
    s.telemetry.stop()
    await waitFor(async () => (await s.state(`${id}.rollback`)) === 'completed', { timeoutMs: 15_000 })
    expect(decisions(await s.events(id), 'rollback-rollout')).toHaveLength(1)
    const rollbacks = (
      await api(a)<{ rollouts: { kind: string; rollbackOf: string | null }[] }>('GET', '/v1/rollouts')
    ).body.rollouts.filter((r) => r.kind === 'rollback')
    expect(rollbacks).toHaveLength(1)
    s.devices.forEach((d, i) => {
      expect(d.desiredSeen.length - (desiredBefore[i] ?? 0)).toBe(1)
    })
  })

  it('a controller restarted after the decision rolls back exactly once', async () => {
    await using env = await telemetryEnv()
    const a = await env.start('ctl-a')
    await using s = await scenario(env, a)
    const id = await s.deployV2([ERROR_RULE])
    s.telemetry.run(s.ids, byModel(s.devices, { errors: 10 }))
    await waitFor(async () => decisions(await s.events(id), 'rollback-rollout').length > 0, { timeoutMs: 15_000 })
    await a.close()
    await env.start('ctl-b')
    await waitFor(() => s.devices.every((d) => d.active?.version === V1.version), { timeoutMs: 15_000, what: 'devices back on V1' })
    s.telemetry.stop()
    expect(await s.state(id)).toBe('rolled-back')
    expect(decisions(await s.events(id), 'rollback-rollout')).toHaveLength(1)
    expect(s.devices.every((d) => d.active?.version === V1.version && d.generation >= 3)).toBe(true)
    expect(new Set(s.devices.flatMap((d) => d.desiredSeen)).size).toBeLessThanOrEqual(3 * s.devices.length)
  })

  it('latency rule fires on the model threshold + 50% and names the slow devices', async () => {
    await using env = await telemetryEnv()
    const c = await env.start()
    await using s = await scenario(env, c)
    const rule = {
      name: 'latency',
      metric: 'latency_avg',
      comparison: 'budget',
      threshold: 0.5,
      windowMs: 300,
      sustainedMs: 200,
      minSamples: 40,
      action: 'rollback-rollout',
    } as const
    const id = await s.deployV2([rule])
    const slow = byModel(s.devices, { latencyP50: 9 })
    s.telemetry.run(s.ids, (dev) => (dev === 'dev-0' ? slow(dev) : byModel(s.devices, {})(dev)))
    // One slow device of four: the cohort average stays under 7.5 ms (5 ms × 1.5).
    type States = { states: { results: { outcome: string; observed: number }[] } | null }
    await waitFor(async () =>
      (await api(c)<States>('GET', `/v1/rollouts/${id}/rules`)).body.states?.results[0]?.outcome === 'healthy' ? true : null,
    )
    s.telemetry.run(s.ids, slow)
    await waitFor(async () => (await s.state(id)) === 'rolled-back', { timeoutMs: 15_000 })
    const rb = decisions(await s.events(id), 'rollback-rollout')[0]
    expect(rb?.evidence).toMatchObject({ rule: 'latency', comparison: 'budget', threshold: 7.5 })
    expect(rb?.evidence?.devices).toEqual(expect.arrayContaining(s.ids))
    expect(rb?.model).toEqual(V2)
  })

  it('a Last Will sends that device back to its previous model, and the step gate counts it failed', async () => {
    await using env = await telemetryEnv()
    const c = await env.start()
    await using s = await scenario(env, c, 5)
    // Offline for half a second after its Last Will: unresponsive.
    const rules = [{ name: 'device-unresponsive', metric: 'unresponsive', threshold: 0, windowMs: 500, action: 'rollback-device' }] as const
    const id = await s.deployV2([...rules])
    s.telemetry.run(s.ids, byModel(s.devices, {}))
    const dev4 = s.devices.find((d) => d.id === 'dev-4')!
    await dev4.crash()
    const will = await waitFor(async () => (await s.events(id)).find((e) => e.action === 'rollback-device'))
    expect(will.evidence).toMatchObject({ rule: 'device-unresponsive', devices: ['dev-4'] })
    // 1 of 5 failed is over the 10% failure threshold: the rollout pauses for the operator.
    await waitFor(async () => (await s.state(id)) === 'paused', { timeoutMs: 10_000 })
    // Its retained desired state now names V1: back online, the device converges on it.
    expect(dev4.active?.version).toBe(V2.version)
    await dev4.start()
    await waitFor(() => dev4.active?.version === V1.version, { timeoutMs: 10_000, what: 'dev-4 back on V1 after it returns' })
    expect(s.devices.filter((d) => d !== dev4).every((d) => d.active?.version === V2.version)).toBe(true)
  })

  it('counts no silence while no controller listened: a killed holder of the ingest duty sends no device back', async () => {
    await using env = await telemetryEnv({ dutyLeaseMs: 600 })
    const a = await env.start('ctl-a')
    await using s = await scenario(env, a, 3)
    const rules = [{ name: 'device-unresponsive', metric: 'unresponsive', threshold: 0, windowMs: 500, action: 'rollback-device' }] as const
    // A short grace after the switch: silence counts half a second after it.
    const id = await s.deployV2([...rules], false, { switchGraceMs: 500 })
    const heard = byModel(s.devices, {})
    s.telemetry.run(s.ids, heard)
    type States = { states: { at: number; results: { outcome: string }[] } | null }
    const healthySince = (c: Controller, t: number) => async () => {
      const st = (await api(c)<States>('GET', `/v1/rollouts/${id}/rules`)).body.states
      return st !== null && st.at > t && st.results[0]?.outcome === 'healthy' ? true : null
    }
    await waitFor(healthySince(a, 0), { what: 'the fleet heard' })
    await a.close()
    // A replica killed outright leaves its lease behind: nobody folds the fleet's telemetry until it
    // expires, while the devices go on reporting.
    const redis = redisClient()
    const lease = `${env.prefix}:lease:duty:telemetry-ingest`
    await redis.set(lease, 'ctl-killed', 'PX', 4000)
    const b = await env.start('ctl-b')
    const started = Date.now()
    // It stays held until ctl-b has judged the rule for 3 rule windows with nobody folding telemetry.
    await waitFor(
      async () => {
        await redis.set(lease, 'ctl-killed', 'PX', 1000)
        const st = (await api(b)<States>('GET', `/v1/rollouts/${id}/rules`)).body.states
        return st !== null && st.at > started + 1500 ? true : null
      },
      { timeoutMs: 30_000, what: 'ctl-b to judge the rule while nobody listens' },
    )
    await waitFor(async () => ((await redis.get(lease)) === 'ctl-b' ? true : null), {
      timeoutMs: 15_000,
      what: 'ctl-b to take the ingest duty',
    })
    await waitFor(healthySince(b, Date.now() + 1000), { timeoutMs: 15_000, what: 'the rule judged healthy after the takeover' })
    await redis.quit()
    expect(decisions(await s.events(id), 'rollback-device')).toEqual([])
    expect(await s.state(id)).toBe('running')
    // Silence heard is still silence: one device stops reporting, and only it goes back.
    s.telemetry.run(s.ids, (dev) => (dev === 'dev-0' ? null : heard(dev)))
    const back = await waitFor(async () => decisions(await s.events(id), 'rollback-device')[0], { timeoutMs: 15_000 })
    expect(back.evidence).toMatchObject({ rule: 'device-unresponsive', devices: ['dev-0'] })
  })

  it('judges a mixed fleet per hardware class: the same power breaks the STM32 budget and not the x86 one', async () => {
    await using env = await telemetryEnv()
    const c = await env.start()
    await using s = await scenario(env, c, 4, (i) => (i < 2 ? 'stm32h743' : 'x86-edge'))
    const id = await s.deployV2([energyRule('pause')], false, STM32_BUDGETS)
    // Every device draws 1 W: far under the x86's 6.2 W, over the STM32's 300 mW + 25 %.
    power(s, 1000)
    await waitFor(async () => (await s.state(id)) === 'paused', { timeoutMs: 10_000, what: 'paused by the STM32 class' })
    const pauses = (await s.events(id)).filter((e) => e.action === 'pause')
    expect(pauses).toHaveLength(1)
    expect(pauses[0]?.evidence).toMatchObject({ rule: 'energy', hardware: 'stm32h743', threshold: 375, devices: ['dev-0', 'dev-1'] })
    expect(pauses[0]?.message).toContain('energy [stm32h743, its budgets]')
    // The x86 class was judged too, against the default budget, and not found breached: when the STM32
    // class paused the rollout it may not have had its minimum samples yet (no-data on a busy machine).
    const states = await api(c)<{ states: { results: { rule: string; hardware: string | null; outcome: string }[] } }>(
      'GET',
      `/v1/rollouts/${id}/rules`,
    )
    const x86 = states.body.states.results.find((r) => r.hardware === 'x86-edge')
    expect(x86).toMatchObject({ rule: 'energy' })
    expect(['healthy', 'no-data']).toContain(x86?.outcome)
  })

  it('a rollback rule judged for one hardware class sends that class back and keeps the release on the others; every class broken rolls the rollout back', async () => {
    await using env = await telemetryEnv()
    const c = await env.start()
    await using s = await scenario(env, c, 4, (i) => (i < 2 ? 'stm32h743' : 'x86-edge'))
    const id = await s.deployV2([energyRule('rollback-rollout')], false, STM32_BUDGETS)
    const hw = new Map(s.devices.map((d) => [d.id, d.hardware]))
    const stm32 = s.devices.filter((d) => d.hardware === 'stm32h743')
    const x86 = s.devices.filter((d) => d.hardware === 'x86-edge')
    // Every device draws 1 W: far under the x86's 6.2 W, over the STM32's 300 mW + 25 %.
    power(s, 1000)
    await waitFor(() => stm32.every((d) => d.active?.version === V1.version), { timeoutMs: 15_000, what: 'the STM32s back on V1' })
    const classDecisions = decisions(await s.events(id), 'rollback-class')
    expect(classDecisions).toHaveLength(1)
    expect(classDecisions[0]?.evidence).toMatchObject({
      rule: 'energy',
      hardware: 'stm32h743',
      threshold: 375,
      devices: ['dev-0', 'dev-1'],
    })
    expect(classDecisions[0]?.message).toContain('energy [stm32h743, its budgets]')
    // The x86 nodes keep the release and the rollout goes on for them.
    expect(x86.every((d) => d.active?.version === V2.version)).toBe(true)
    expect(await s.state(id)).toBe('running')
    expect(decisions(await s.events(id), 'rollback-rollout')).toHaveLength(0)
    // `rollout show`: each STM32 failed, sent back to 1.0.0 by the class's rule; the x86 nodes succeeded.
    type Shown = { counts: { cohort: number; failed: number }; devices_: { id: string; outcome: string; error: string | null }[] }
    const shown = (await api(c)<Shown>('GET', `/v1/rollouts/${id}`)).body
    for (const d of shown.devices_.filter((x) => hw.get(x.id) === 'stm32h743')) {
      expect(d.outcome).toBe('failed')
      expect(d.error).toMatch(/rule energy \[stm32h743.*taken out of the rollout; sent back to 1\.0\.0/)
    }
    for (const d of shown.devices_.filter((x) => hw.get(x.id) === 'x86-edge')) expect(d.outcome).toBe('succeeded')
    expect(shown.counts).toMatchObject({ cohort: 2, failed: 0 })
    const returned = (await s.events(id)).find((e) => e.event === 'devices-returned')
    expect(returned?.devices?.map((d) => d.deviceId).sort()).toEqual(['dev-0', 'dev-1'])
    // Now the x86 class breaks its own budget too: every class of the rollout has broken, so the whole rollout goes back.
    power(s, 9000)
    await waitFor(async () => (await s.state(id)) === 'rolled-back', { timeoutMs: 15_000, what: 'the whole rollout rolled back' })
    await waitFor(() => s.devices.every((d) => d.active?.version === V1.version), { timeoutMs: 15_000, what: 'every device back on V1' })
    const whole = decisions(await s.events(id), 'rollback-rollout')
    expect(whole).toHaveLength(1)
    expect(whole[0]?.evidence).toMatchObject({ rule: 'energy', hardware: 'x86-edge' })
    expect(decisions(await s.events(id), 'rollback-class')).toHaveLength(1)
  })

  it('a single-class rollout is rolled back whole by a class rule, as before', async () => {
    await using env = await telemetryEnv()
    const c = await env.start()
    await using s = await scenario(env, c, 3, () => 'stm32h743')
    const id = await s.deployV2([energyRule('rollback-rollout')], false, STM32_BUDGETS)
    power(s, 1000)
    await waitFor(async () => (await s.state(id)) === 'rolled-back', { timeoutMs: 15_000, what: 'rolled back' })
    expect(decisions(await s.events(id), 'rollback-rollout')[0]?.evidence).toMatchObject({ hardware: 'stm32h743' })
    expect(decisions(await s.events(id), 'rollback-class')).toHaveLength(0)
  })

  it('energy over budget + 25% and exhausted memory each get their action', async () => {
    await using env = await telemetryEnv()
    const c = await env.start()
    await using s = await scenario(env, c, 5)
    const rules = [
      {
        name: 'energy',
        metric: 'energy_avg',
        comparison: 'budget',
        threshold: 0.25,
        windowMs: 300,
        sustainedMs: 200,
        minSamples: 3,
        action: 'pause',
      },
      { name: 'memory-alert', metric: 'memory_used', threshold: 0.95, windowMs: 300, minSamples: 1, action: 'alert' },
    ] as const
    const id = await s.deployV2([...rules], false, { energyBudgetMw: 100 })
    const normal = byModel(s.devices, { avgMw: 110 })
    s.telemetry.run(s.ids, (dev) => ({ ...normal(dev), memory: { usedBytes: dev === 'dev-2' ? 990 : 100, totalBytes: 1000 } }))
    const events = async () => (await s.events(id)).filter((e) => e.event === 'decision' || e.event === 'alert')
    const memory = await waitFor(async () => (await events()).find((e) => e.evidence?.rule === 'memory-alert'))
    expect(memory).toMatchObject({ event: 'alert', action: 'alert', evidence: { metric: 'memory_used', threshold: 0.95 } })
    // 110 mW is over the budget + 15% alert level but under + 25%: no pause yet.
    expect((await events()).some((e) => e.action === 'pause')).toBe(false)
    s.telemetry.run(s.ids, byModel(s.devices, { avgMw: 140 }))
    await waitFor(async () => (await s.state(id)) === 'paused', { timeoutMs: 10_000 })
    const pause = (await events()).filter((e) => e.action === 'pause')
    expect(pause).toHaveLength(1)
    expect(pause[0]?.evidence).toMatchObject({ rule: 'energy', comparison: 'budget', threshold: 125 })
    expect(pause[0]?.evidence?.observed).toBeCloseTo(140)
    // Resumed by an operator, the same breach does not pause it again.
    await api(c)('POST', `/v1/rollouts/${id}/resume`)
    await waitFor(async () => (await s.state(id)) === 'running')
    const states = await api(c)<{ states: { at: number } | null }>('GET', `/v1/rollouts/${id}/rules`)
    const seen = states.body.states?.at ?? 0
    await waitFor(
      async () => ((await api(c)<{ states: { at: number } | null }>('GET', `/v1/rollouts/${id}/rules`)).body.states?.at ?? 0) > seen + 400,
    )
    expect(await s.state(id)).toBe('running')
  })
})
