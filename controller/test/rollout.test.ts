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
