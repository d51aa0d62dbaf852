import { describe, expect, it } from 'vitest'
import { startFakeDevices, waitFor, type FakeDevice } from '@liquid-edge/test/harness'
import type { DeviceRow } from '../src/rollout/accounting.js'
import { api, setupFleet, testEnv, waitForState } from './helpers.js'

interface AuditEvent {
  event: string
  rolloutId: string | null
  message: string
  devices?: { deviceId: string; model: { name: string; version: string } | null; route: string; outcome: string; reason?: string }[]
}

async function eventsOf(get: ReturnType<typeof api>, rolloutId: string): Promise<AuditEvent[]> {
  const res = await get<{ events: AuditEvent[] }>('GET', `/v1/events?limit=1000&rollout=${rolloutId}`)
  return res.body.events
}

async function rows(get: ReturnType<typeof api>, rolloutId: string): Promise<DeviceRow[]> {
  return (await get<{ devices_: DeviceRow[] }>('GET', `/v1/rollouts/${rolloutId}`)).body.devices_
}

const onNothing = (d: FakeDevice): boolean => d.active === null && d.phase === 'idle'

describe('no device left behind', () => {
  it('a first install rolled back leaves every device with no model, and the rollout accounts for each', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const { ids } = await setupFleet(c, env, 4)
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root }, ids)
    const r = await c.rollouts.deploy({ model: { name: 'kws', version: '2.0.0' }, target: 'env=staging', strategy: 'all' })
    await waitForState(c, r.id, 'completed')
    await waitFor(async () => (await c.live.views(ids)).every((v) => v.reported?.phase === 'active'), { what: 'the devices reported' })
    const rb = await c.rollouts.rollback({ rolloutId: r.id, toPrevious: true })
    expect(rb.touched).toBe(4)
    const done = await waitForState(c, rb.rollout?.id ?? '', 'completed')
    expect(done.counts).toMatchObject({ cohort: 4, succeeded: 4, silent: 0, failed: 0 })
    await waitFor(() => devices.every(onNothing), { what: 'every device with no model' })
    const get = api(c)
    const table = await rows(get, r.id)
    expect(table.map((x) => [x.id, x.ended, x.back?.route, x.back?.to, x.back?.state])).toEqual(
      ids.map((id) => [id, 'no model', 'fallback', null, 'converged']),
    )
    for (const row of table)
      expect(row.why).toMatch(/sent back by rb-.* to the fallback \(no previous model \(first install\); fallback: no model\): done/)
    // The rollout's own events tell where its devices went, issued and then done.
    const returned = (await eventsOf(get, r.id)).filter((e) => e.event === 'devices-returned')
    expect(returned.map((e) => e.devices?.map((d) => d.outcome))).toEqual([
      ['pending', 'pending', 'pending', 'pending'],
      ['converged', 'converged', 'converged', 'converged'],
    ])
    expect(returned[1]?.message).toMatch(/4 of 4 devices converged \(0 on their previous model, 4 on the fallback \(4 with no model\)\)/)
    expect(returned[1]?.devices?.every((d) => d.model === null && d.route === 'fallback')).toBe(true)
    // Repeating it changes nothing: the devices are where the rollback sent them.
    expect(await c.rollouts.rollback({ rolloutId: r.id, toPrevious: true })).toMatchObject({ rollout: null, touched: 0, unchanged: 4 })
  })

  it("sends a first install to the policy's fallback version; one offline is listed and converges when it returns", async () => {
    await using env = await testEnv()
    const c = await env.start()
    const { ids, v1 } = await setupFleet(c, env, 3)
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root }, ids)
    await expect(
      c.rollouts.deploy({
        model: { name: 'kws', version: '2.0.0' },
        target: 'env=staging',
        policy: { fallback: { name: 'kws', version: '9.9.9' } },
      }),
    ).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND' })
    const r = await c.rollouts.deploy({
      model: { name: 'kws', version: '2.0.0' },
      target: 'env=staging',
      strategy: 'all',
      policy: { fallback: { name: 'kws', version: '1.0.0' } },
    })
    await waitForState(c, r.id, 'completed')
    const away = devices[2] as FakeDevice
    await waitFor(async () => (await c.live.views(ids)).every((v) => v.reported?.phase === 'active'), { what: 'the devices reported' })
    await away.crash()
    await waitFor(async () => (await c.live.views([away.id]))[0]?.status?.online === false, { what: 'the device offline' })
    const rb = await c.rollouts.rollback({ rolloutId: r.id, toPrevious: true })
    // The rollback does not wait for the offline device: it is listed as unreachable.
    const done = await waitForState(c, rb.rollout?.id ?? '', 'completed')
    expect(done.counts).toMatchObject({ succeeded: 2, silent: 1 })
    const get = api(c)
    const completedEvent = (await eventsOf(get, done.id)).find((e) => e.event === 'rollout-completed')
    expect(completedEvent?.message).toContain(`1 unreachable, converging when they return: ${away.id}`)
    expect((await rows(get, r.id)).find((x) => x.id === away.id)?.back).toMatchObject({ route: 'fallback', state: 'unreachable' })
    for (const d of devices.slice(0, 2)) expect(d.active?.sha256).toBe(v1.sha256)
    // Back online, it reads its retained desired state, and the finished rollback counts it.
    await away.start()
    await waitFor(() => away.active?.sha256 === v1.sha256, { what: 'the returning device on the fallback' })
    await waitFor(async () => (await c.repo.get(done.id)).counts.succeeded === 3, { what: 'the rollback to count it' })
    expect((await c.repo.get(done.id)).counts).toMatchObject({ succeeded: 3, silent: 0 })
    expect((await rows(get, r.id)).find((x) => x.id === away.id)).toMatchObject({ ended: 'kws@1.0.0', back: { state: 'converged' } })
  })

  it('an abort with a previous model the store does not hold sends devices back by their standby slot, or to the fallback, and reports each', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const { ids, v1 } = await setupFleet(c, env, 3)
    // The devices came with a factory model that was never pushed to the store.
    const factory = { name: 'kws', version: '0.9.0', sha256: 'f'.repeat(64) }
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: factory }, ids, () => ({
      behaviour: 'trial',
    }))
    const r = await c.rollouts.deploy({
      model: { name: 'kws', version: '2.0.0' },
      target: 'env=staging',
      strategy: 'all',
      policy: { fallback: { name: 'kws', version: '1.0.0' } },
    })
    await waitFor(async () => (await c.live.views(ids)).every((v) => v.reported?.phase === 'trial'), { what: 'every device in trial' })
    const away = devices[2] as FakeDevice
    await away.crash()
    await waitFor(async () => (await c.live.views([away.id]))[0]?.status?.online === false, { what: 'the device offline' })
    await c.rollouts.abort(r.id)
    await waitFor(async () => (await c.repo.get(r.id)).finalized, { what: 'the aborted rollout finalized' })
    const get = api(c)
    const returned = await waitFor(async () => (await eventsOf(get, r.id)).find((e) => e.event === 'devices-returned'), {
      what: 'the devices-returned event',
    })
    expect(returned.devices?.map((d) => [d.deviceId, d.route, d.model?.version ?? null]).sort()).toEqual([
      [ids[0], 'previous', '0.9.0'],
      [ids[1], 'previous', '0.9.0'],
      [ids[2], 'fallback', '1.0.0'],
    ])
    expect(returned.devices?.find((d) => d.route === 'fallback')?.reason).toBe(
      'aborted; previous model kws@0.9.0 is not in the model store; fallback kws@1.0.0',
    )
    // The online devices went back to their factory model by command; the offline one converges on the fallback.
    await waitFor(() => devices.slice(0, 2).every((d) => d.active?.sha256 === factory.sha256), { what: 'back on the factory model' })
    away.behaviour = 'ok'
    await away.start()
    await waitFor(() => away.active?.sha256 === v1.sha256, { what: 'the returning device on the fallback' })
    const table = await rows(get, r.id)
    expect(table.map((x) => [x.id, x.ended, x.back?.route, x.back?.state])).toEqual([
      [ids[0], 'kws@0.9.0', 'previous', 'converged'],
      [ids[1], 'kws@0.9.0', 'previous', 'converged'],
      [ids[2], 'kws@1.0.0', 'fallback', 'converged'],
    ])
  })
})
