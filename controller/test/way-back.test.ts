import { describe, expect, it } from 'vitest'
import { buildFakePackage, startAgents, startFakeDevices, waitFor, type FakeDevice } from '@liquid-edge/test/harness'
import type { DeviceRow } from '../src/rollout/accounting.js'
import type { Signal } from '../src/rollout/observations.js'
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

// The rules can hand a rollout its rollback and device verdicts (crashed or unresponsive) that one
// tick reads together; whichever way that tick takes, every canary must end on its way back.
const RULE = 'rule error-rate: error_rate 0.5 > 0.1'
function revert(deviceIds: string[]): Signal {
  return { action: 'revert-devices', deviceIds, reason: 'crashed or unresponsive' }
}
const VERDICTS: [string, (canaries: string[]) => Signal[]][] = [
  ['the rollback and every canary crashed', (c) => [{ action: 'rollback', reason: RULE }, revert(c)]],
  ['the rollback and one canary unresponsive', (c) => [revert(c.slice(1)), { action: 'rollback', reason: RULE }]],
  ['every canary unresponsive (the failure gate rolls back)', (c) => [revert(c)]],
]

describe('a first install rolled back with real agents', () => {
  it.each(VERDICTS)('ends every canary on the fallback version the deploy named, with %s in one tick', async (_, verdicts) => {
    await using env = await testEnv()
    let signals: Signal[] = []
    const c = await env.start(undefined, {}, { signals: () => Promise.resolve(signals) })
    const ids = ['dev-0', 'dev-1', 'dev-2', 'dev-3']
    await c.registry.addMany(ids.map((id) => ({ id, labels: { env: 'staging' } })))
    for (const version of ['1.0.0', '2.0.0'])
      await c.models.push(buildFakePackage(env.publisher.privateKey, { name: 'kws', version, energyBudgetMw: 100 }).bytes)
    const publicKeyPem = env.publisher.publicKey.export({ type: 'spki', format: 'pem' }).toString()
    // Real agents with a power meter: a trial on them is judged on what they measure.
    await using fleet = await startAgents({
      ...{ url: env.broker.url, root: env.root, publicKeyPem },
      devices: ids.map((id) => ({ id, sensors: { powerMw: 40 } })),
    })
    for (const a of fleet.agents.values()) a.on('error', () => undefined)
    const drivers = ids.map((id) => fleet.drivers.get(id))
    const r = await c.rollouts.deploy({
      model: { name: 'kws', version: '2.0.0' },
      target: 'env=staging',
      steps: [{ percent: 50 }, { percent: 100 }],
      bakeMs: 600_000,
      gate: { successThreshold: 0.9, failureThreshold: 0.1, minSamples: 10, onFailure: 'rollback' },
      policy: { trialMs: 100, fallback: { name: 'kws', version: '1.0.0' } },
    })
    await waitFor(
      async () => {
        const now = await c.repo.get(r.id)
        return now.counts.cohort === 2 && now.counts.succeeded === 2 && now.bakeUntil !== null
      },
      { what: 'the canaries on the release, baking' },
    )
    const canaries = ids.filter((_, i) => drivers[i]?.activeVersion === '2.0.0')
    expect(canaries).toHaveLength(2)
    // The bad release left the canaries hot: over the energy budget whatever model they run now.
    for (const d of fleet.drivers.values()) d.sensors.powerMw = 500
    signals = verdicts(canaries)
    await c.engine.nudge(r.id)
    await waitFor(async () => (await c.repo.get(r.id)).finalized, { what: 'the rolled-back rollout finalized' })
    expect((await c.repo.get(r.id)).state).toBe('rolled-back')
    // Each canary answers the last desired state it was sent (active, failed or reverted): on the fallback.
    const answered = await waitFor(
      async () => {
        const [views, desired] = await Promise.all([c.live.views(canaries), c.repo.desired(canaries)])
        const final = new Set(['active', 'failed', 'reverted'])
        const done = views.every((v, i) => final.has(v.reported?.phase ?? '') && v.reported?.generation === desired[i]?.gen)
        return done ? views.map((v) => [v.reported?.phase, v.reported?.error ?? null]) : null
      },
      { what: 'every canary to answer its way back' },
    )
    expect(answered).toEqual(canaries.map(() => ['active', null]))
    expect(canaries.map((id) => fleet.drivers.get(id)?.activeVersion)).toEqual(['1.0.0', '1.0.0'])
    for (const [id, d] of fleet.drivers) if (!canaries.includes(id)) expect(d.activeVersion).toBeNull()
    // The rollout accounts for each canary: where it ended and why, in its table and its events.
    const get = api(c)
    const table = await waitFor(
      async () => {
        const t = await rows(get, r.id)
        return t.every((x) => x.back?.state === 'converged') ? t : null
      },
      { what: 'the rollout to show every canary converged' },
    )
    expect(table.map((x) => [x.id, x.ended, x.back?.route, x.back?.to])).toEqual(
      canaries.map((id) => [id, 'kws@1.0.0', 'fallback', 'kws@1.0.0']),
    )
    for (const row of table) expect(row.why).toContain('fallback kws@1.0.0')
    const returned = (await eventsOf(get, r.id)).filter((e) => e.event === 'devices-returned')
    const accounted = new Map(returned.flatMap((e) => e.devices ?? []).map((d) => [d.deviceId, d]))
    expect([...accounted.keys()].sort()).toEqual(canaries)
    for (const d of accounted.values()) expect([d.route, d.model?.version]).toEqual(['fallback', '1.0.0'])
  })
})

describe('a way back that fails', () => {
  it('shows each device the rollout sent back whose way back failed as failed, not on its way', async () => {
    await using env = await testEnv()
    let signals: Signal[] = []
    const c = await env.start(undefined, {}, { signals: () => Promise.resolve(signals) })
    const { ids } = await setupFleet(c, env, 4)
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root }, ids)
    const r = await c.rollouts.deploy({
      model: { name: 'kws', version: '2.0.0' },
      target: 'env=staging',
      steps: [{ percent: 50 }, { percent: 100 }],
      bakeMs: 600_000,
      policy: { fallback: { name: 'kws', version: '1.0.0' } },
    })
    await waitFor(async () => (await c.repo.get(r.id)).counts.succeeded === 2, { what: 'the canaries on the release' })
    const canaries = devices.filter((d) => d.active?.version === '2.0.0')
    // Their fallback download fails (a corrupt artifact, a full disk): they stay on the release.
    for (const d of canaries) d.behaviour = 'fail'
    signals = [revert(canaries.map((d) => d.id))]
    await c.engine.nudge(r.id)
    await waitForState(c, r.id, 'paused')
    await waitFor(() => canaries.every((d) => d.phase === 'failed'), { what: 'every canary to fail its way back' })
    const table = await waitFor(
      async () => {
        const t = await rows(api(c), r.id)
        return t.every((x) => x.back?.state === 'failed') ? t : null
      },
      { what: 'the rollout to show every way back failed' },
    )
    expect(table.map((x) => [x.id, x.ended, x.back?.to, x.now.phase])).toEqual(
      canaries.map((d) => [d.id, 'kws@2.0.0', 'kws@1.0.0', 'failed']),
    )
    for (const row of table) expect(row.why).toMatch(/^sent back by this rollout to the fallback \(crashed or unresponsive; .*\): failed$/)
  })
})
