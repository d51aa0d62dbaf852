import { describe, expect, it } from 'vitest'
import { startFakeDevices, waitFor } from '@liquid-edge/test/harness'
import { api, makePackage, setupFleet, testEnv, waitForState } from './helpers.js'

describe('the model store keeps every version a device may need', () => {
  it('refuses to delete the model devices would go back to, and the fallback their release names, and lets go of one nothing needs', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const call = api(c)
    const del = async (version: string) =>
      (await call<{ error?: { code: string; message: string } }>('DELETE', `/v1/models/kws/${version}`)).body
    const { ids, v1 } = await setupFleet(c, env, 2)
    await c.models.push(makePackage(env.publisher, 'kws', '0.5.0'))
    await c.models.push(makePackage(env.publisher, 'kws', '3.0.0'))
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids)
    const r = await c.rollouts.deploy({
      model: { name: 'kws', version: '2.0.0' },
      target: 'env=staging',
      strategy: 'all',
      policy: { fallback: { name: 'kws', version: '0.5.0' } },
    })
    await waitForState(c, r.id, 'completed')
    await waitFor(async () => (await c.live.views(ids)).every((v) => v.reported?.phase === 'active'), { what: 'the devices reported' })
    // 1.0.0 is where the devices go back to; 0.5.0 is the fallback of their release; 2.0.0 runs.
    expect(await del('1.0.0')).toMatchObject({ error: { code: 'MODEL_IN_USE' } })
    expect((await del('1.0.0')).error?.message).toMatch(/2 devices may return to it/)
    expect((await del('0.5.0')).error?.message).toMatch(/fallback of 2 devices' release/)
    expect((await del('2.0.0')).error?.message).toMatch(/2 devices are assigned it/)
    // Nothing needs 3.0.0: it goes.
    expect((await call('DELETE', '/v1/models/kws/3.0.0')).status).toBeLessThan(300)
    // A fallback named by a rollout still running is kept too (the devices do not answer: it keeps running).
    for (const d of devices) d.behaviour = 'silent'
    const next = await c.rollouts.deploy({
      model: { name: 'kws', version: '1.0.0' },
      target: 'env=staging',
      strategy: 'all',
      policy: { fallback: { name: 'kws', version: '0.5.0' } },
      stepDeadlineMs: 60_000,
    })
    expect((await del('0.5.0')).error?.message).toMatch(new RegExp(`fallback of rollout ${next.id}`))
  })
})
