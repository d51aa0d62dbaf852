import { describe, expect, it } from 'vitest'
import { startFakeDevices, waitFor } from '@liquid-edge/test/harness'
import { setupFleet, testEnv, waitForState } from './helpers.js'

describe('rollout strategies', () => {
  it('blue-green: a deploy to a colour group stages there; switch checks --from; rollback after decommission goes back to blue', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const { ids, v1, v2 } = await setupFleet(c, env, 4)
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids)
    await c.registry.saveGroup({ name: 'production-blue', selector: 'env=staging', colour: 'blue' })
    await c.registry.saveGroup({ name: 'production-green', selector: 'env=staging', colour: 'green' })
    await c.registry.saveGroup({ name: 'elsewhere', selector: 'hw=rpi4' })
    const r = await c.rollouts.deploy({ model: { name: 'kws', version: '2.0.0' }, target: 'production-green' })
    expect(r).toMatchObject({ strategy: 'blue-green', mode: 'stage', name: 'production-green', target: 'env=staging' })
    await waitForState(c, r.id, 'staged')
    for (const d of devices) {
      expect(d.active?.sha256).toBe(v1.sha256)
      expect(d.staged?.sha256).toBe(v2.sha256)
    }
    // --from names what runs now: not the candidate, not a group that lacks the staged devices, not nothing.
    for (const from of ['production-green', 'elsewhere', 'production-purple'])
      await expect(c.rollouts.switch({ to: 'production-green', from })).rejects.toMatchObject({ code: 'ROLLOUT_CONFLICT' })
    expect((await c.repo.get(r.id)).state).toBe('staged')
    await c.rollouts.switch({ to: 'production-green', from: 'production-blue' })
    await waitForState(c, r.id, 'completed')
    for (const d of devices) {
      expect(d.active?.sha256).toBe(v2.sha256)
      expect(d.commandsSeen.filter((cmd) => cmd.body.kind === 'switch')).toHaveLength(1)
    }
    const answers = await c.commands.request(ids, { kind: 'decommission', expiresAt: Date.now() + 5000 }, 5000)
    expect(answers.every((a) => a.reply?.ok === true)).toBe(true)
    for (const d of devices) expect(d.previous).toBeNull()
    // The blue slot is gone; --to-previous still goes back to the blue model, from the store.
    const back = await c.rollouts.rollback({ target: 'env=staging', toPrevious: true })
    expect(back.touched).toBe(4)
    await waitForState(c, back.rollout?.id ?? '', 'completed')
    for (const d of devices) expect(d.active?.sha256).toBe(v1.sha256)
  })

  it('canary by count updates that many devices first, then the rest, in batches', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const { ids, v1 } = await setupFleet(c, env, 9)
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids)
    const r = await c.rollouts.deploy({
      model: { name: 'kws', version: '2.0.0' },
      target: 'env=staging',
      strategy: 'canary',
      canaryCount: 2,
      bakeMs: 400,
    })
    await waitFor(async () => (await c.repo.get(r.id)).bakeUntil !== null, { what: 'canary baking' })
    expect(devices.filter((d) => d.desiredSeen.length > 0)).toHaveLength(2)
    await waitForState(c, r.id, 'completed')
    expect(devices.every((d) => d.active?.version === '2.0.0')).toBe(true)
    const batched = await c.rollouts.deploy({ model: { name: 'kws', version: '1.0.0' }, target: 'env=staging', batchSize: 4 })
    expect(batched.steps).toEqual([{ count: 4 }, { count: 8 }, { percent: 100 }])
    await waitForState(c, batched.id, 'completed')
    expect(devices.every((d) => d.active?.version === '1.0.0')).toBe(true)
  })

  it('an aborted rollout sends pending devices back so a late device never installs the aborted model', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const { ids, v1 } = await setupFleet(c, env, 2)
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids, () => ({
      behaviour: 'silent',
    }))
    const r = await c.rollouts.deploy({ model: { name: 'kws', version: '2.0.0' }, target: 'env=staging', strategy: 'all' })
    await waitFor(() => devices.every((d) => d.desiredSeen.length === 1), { what: 'desired delivered' })
    await c.rollouts.abort(r.id)
    await waitFor(async () => (await c.repo.get(r.id)).finalized, { what: 'abort finalized' })
    for (const d of devices) d.behaviour = 'ok'
    await waitFor(() => devices.every((d) => d.desiredSeen.length === 2), { what: 'superseding generation' })
    for (const d of devices) expect(d.desiredSeen[1]).toBeGreaterThan(d.desiredSeen[0] ?? 0)
    await devices[0]?.crash()
    const late = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1, session: 2 }, ['dev-0'])
    await waitFor(() => late[0]?.desiredSeen.length === 1, { what: 'retained desired on reconnect' })
    expect(late[0]?.active?.version).toBe('1.0.0')
    expect(late[0]?.downloads).toEqual([])
    await late[Symbol.asyncDispose]()
  })
})
