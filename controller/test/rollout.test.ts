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
})
