import { describe, expect, it } from 'vitest'
import type { FakeDevice } from '@liquid-edge/test/harness'
import { startFakeDevices, waitFor } from '@liquid-edge/test/harness'
import { api, makePackage, testEnv } from './helpers.js'

const V1 = { name: 'kws', version: '1.0.0' }

describe('rolling rollout', () => {
  it('rollout reaches every device in 25% then 100% when all devices succeed', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const call = api(c)
    const ids = Array.from({ length: 8 }, (_, i) => `dev-${i}`)
    for (const id of ids)
      expect((await call('POST', '/v1/devices', { id, labels: { env: 'staging', hw: 'stm32h743' }, credential: false })).status).toBe(201)
    expect((await call('POST', '/v1/models', makePackage(env.publisher, V1.name, V1.version))).status).toBe(201)
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root }, ids)
    const res = await call<{ id: string }>('POST', '/v1/rollouts', {
      model: V1,
      target: 'env=staging',
      steps: [{ percent: 25 }, { percent: 100 }],
    })
    expect(res.status).toBe(201)
    const id = res.body.id
    const r = await waitFor(
      async () => {
        const got = await call<{ state: string; counts: { succeeded: number } }>('GET', `/v1/rollouts/${id}`)
        return got.body.state === 'completed' ? got.body : null
      },
      { timeoutMs: 15_000 },
    )
    expect(r.counts.succeeded).toBe(8)
    for (const d of devices as FakeDevice[]) {
      expect(d.active?.version).toBe('1.0.0')
      expect(new Set(d.desiredSeen).size).toBe(1)
    }
  })
})

describe('rollout policy', () => {
  it("takes the package's latency threshold and energy budget unless the request sets them", async () => {
    await using env = await testEnv()
    const c = await env.start()
    const call = api(c)
    expect((await call('POST', '/v1/devices', { id: 'dev-0', labels: { env: 'staging' }, credential: false })).status).toBe(201)
    const pkg = makePackage(env.publisher, V1.name, V1.version, 64, { latencyThresholdMs: 7, energyBudgetMw: 40 })
    expect((await call('POST', '/v1/models', pkg)).status).toBe(201)
    type Created = { id: string; policy: Record<string, unknown> }
    const first = await call<Created>('POST', '/v1/rollouts', { model: V1, target: 'env=staging', policy: { trialMs: 1000 } })
    expect(first.status).toBe(201)
    expect(first.body.policy).toMatchObject({ trialMs: 1000, latencyThresholdMs: 7, energyBudgetMw: 40, maxErrorRate: 0.1 })
    const second = await call<Created>('POST', '/v1/rollouts', {
      model: V1,
      target: 'env=staging',
      supersede: true,
      policy: { energyBudgetMw: 80 },
    })
    expect(second.status).toBe(201)
    expect(second.body.policy).toMatchObject({ trialMs: 60_000, latencyThresholdMs: 7, energyBudgetMw: 80 })
  })

  it("gives a deploy that sets no trial the controller's rolloutTrialMs, and a request's own trial wins over it", async () => {
    await using env = await testEnv({ rolloutTrialMs: 2500 })
    const c = await env.start()
    const call = api(c)
    expect((await call('POST', '/v1/devices', { id: 'dev-0', labels: { env: 'staging' }, credential: false })).status).toBe(201)
    expect((await call('POST', '/v1/models', makePackage(env.publisher, V1.name, V1.version))).status).toBe(201)
    const trials: unknown[] = []
    for (const policy of [undefined, { trialMs: 1000 }]) {
      const body = { model: V1, target: 'env=staging', supersede: true, ...(policy === undefined ? {} : { policy }) }
      const r = await call<{ policy: { trialMs: number } }>('POST', '/v1/rollouts', body)
      expect(r.status).toBe(201)
      trials.push(r.body.policy.trialMs)
    }
    expect(trials).toEqual([2500, 1000])
  })
})

describe('paused rollout', () => {
  it('is not ticked while paused: its record stands still while another rollout ticks, and it ticks again once resumed', async () => {
    await using env = await testEnv({ tickMs: 100 })
    const c = await env.start()
    const call = api(c)
    for (const [id, group] of [
      ['p-0', 'a'],
      ['q-0', 'b'],
    ] as const)
      expect((await call('POST', '/v1/devices', { id, labels: { group }, credential: false })).status).toBe(201)
    expect((await call('POST', '/v1/models', makePackage(env.publisher, V1.name, V1.version))).status).toBe(201)
    // Devices that never answer: both rollouts stay at their first step.
    await using _devices = await startFakeDevices({ url: env.broker.url, root: env.root, behaviour: 'silent' }, ['p-0', 'q-0'])
    type Row = { state: string; revision: number }
    const rollout = async (target: string) =>
      (await call<{ id: string }>('POST', '/v1/rollouts', { model: V1, target, strategy: 'all' })).body.id
    const [paused, ticking] = [await rollout('group=a'), await rollout('group=b')]
    const get = async (id: string) => (await call<Row>('GET', `/v1/rollouts/${id}`)).body
    expect((await call('POST', `/v1/rollouts/${paused}/pause`)).status).toBe(200)
    await waitFor(async () => (await get(paused)).state === 'paused')
    const fiveTicks = async () => {
      const other = (await get(ticking)).revision
      await waitFor(async () => (await get(ticking)).revision >= other + 5, { timeoutMs: 20_000, what: 'five ticks of the other rollout' })
    }
    // The ticks already queued when it paused run out; after that nothing moves it.
    await fiveTicks()
    const settled = (await get(paused)).revision
    await fiveTicks()
    expect((await get(paused)).revision).toBe(settled)
    expect((await call('POST', `/v1/rollouts/${paused}/resume`)).status).toBe(200)
    const resumed = (await get(paused)).revision
    await waitFor(async () => (await get(paused)).revision >= resumed + 3, { timeoutMs: 20_000, what: 'ticks of the resumed rollout' })
  })
})
