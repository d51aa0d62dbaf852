import { describe, expect, it } from 'vitest'
import { startFakeDevices, waitFor } from '@liquid-edge/test/harness'
import { setupFleet, testEnv, waitForState } from './helpers.js'

describe('rollout engine against fake devices', () => {
  it('failing gate pauses the rollout when a canary device fails, and resume accepts the failures seen and continues', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const { ids, v1 } = await setupFleet(c, env, 6)
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids, (id) =>
      id === 'dev-0' ? { behaviour: 'fail' } : {},
    )
    const r = await c.rollouts.deploy({
      model: { name: 'kws', version: '2.0.0' },
      target: 'env=staging',
      strategy: 'canary',
      canary: ['dev-0', 'dev-1'],
      steps: [{ percent: 100 }],
    })
    const paused = await waitForState(c, r.id, 'paused')
    expect(paused.step).toBe(0)
    expect(paused.counts.failed).toBe(1)
    expect(paused.reason).toMatch(/1 of 2 devices failed/)
    // Devices outside the canary never heard of the rollout.
    for (const d of devices.slice(2)) expect(d.desiredSeen).toEqual([])
    const progress = await c.repo.progress(r.id)
    expect(progress.get('dev-0')?.error).toMatch(/PACKAGE_SHA256_MISMATCH/)
    await c.rollouts.resume(r.id)
    const done = await waitForState(c, r.id, 'completed')
    expect(done.counts).toMatchObject({ succeeded: 5, failed: 1 })
    expect(devices.slice(1).every((d) => d.active?.version === '2.0.0')).toBe(true)
  })

  it('silent devices are counted as silent (never as success) when the step deadline passes', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const { ids, v1 } = await setupFleet(c, env, 4)
    await using _devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids, (id) =>
      id === 'dev-3' ? { behaviour: 'silent' } : {},
    )
    const r = await c.rollouts.deploy({
      model: { name: 'kws', version: '2.0.0' },
      target: 'env=staging',
      strategy: 'all',
      stepDeadlineMs: 800,
      gate: { successThreshold: 0.5, failureThreshold: 0.5, minSamples: 1, onFailure: 'pause' },
    })
    const done = await waitForState(c, r.id, 'completed')
    expect(done.counts).toMatchObject({ succeeded: 3, silent: 1, failed: 0 })
    expect((await c.repo.progress(r.id)).get('dev-3')?.outcome).toBe('silent')
  })

  it('rollback to previous touches exactly the devices the rollout changed, and repeating it touches none', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const { ids, v1, v2 } = await setupFleet(c, env, 8)
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids)
    const r = await c.rollouts.deploy({ model: { name: 'kws', version: '2.0.0' }, target: 'env=staging', steps: [{ percent: 50 }] })
    await waitForState(c, r.id, 'completed')
    const changed = devices.filter((d) => d.active?.sha256 === v2.sha256).map((d) => d.id)
    expect(changed).toHaveLength(4)
    const seenBefore = new Map(devices.map((d) => [d.id, d.desiredSeen.length]))
    const rb = await c.rollouts.rollback({ rolloutId: r.id, toPrevious: true })
    expect(rb.touched).toBe(4)
    // No trial: a rollback skips every gate (a device that must fetch the old model confirms it at once).
    expect(rb.rollout?.policy.trialMs).toBe(0)
    expect(rb.rollout?.devices?.sort()).toEqual([...changed].sort())
    await waitForState(c, rb.rollout?.id ?? '', 'completed')
    for (const d of devices) {
      expect(d.active?.sha256).toBe(v1.sha256)
      expect(d.desiredSeen.length - (seenBefore.get(d.id) ?? 0)).toBe(changed.includes(d.id) ? 1 : 0)
      expect(new Set(d.desiredSeen).size).toBe(d.desiredSeen.length)
    }
    expect((await c.repo.get(r.id)).state).toBe('rolled-back')
    const again = await c.rollouts.rollback({ rolloutId: r.id, toPrevious: true })
    expect(again).toMatchObject({ rollout: null, touched: 0, unchanged: 4 })
    const byTarget = await c.rollouts.rollback({ target: 'env=staging', toVersion: '1.0.0', model: 'kws' })
    expect(byTarget.touched).toBe(0)
    // "To previous" by target is done too: the rolled-back devices' standby slot now holds 2.0.0, and
    // going there again would undo the rollback.
    const againByTarget = await c.rollouts.rollback({ target: 'env=staging', toPrevious: true })
    expect(againByTarget).toMatchObject({ rollout: null, touched: 0 })
    for (const d of devices) expect(d.active?.sha256).toBe(v1.sha256)
  })

  it('a rollback of part of a rollout stops it: its other pending devices go back too, not left on a release nobody watches', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const { ids, v1 } = await setupFleet(c, env, 4)
    // The rpi4 devices (odd) install the release; the stm32 ones (even) have not answered yet.
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids, (id) =>
      ['dev-0', 'dev-2'].includes(id) ? { behaviour: 'silent' } : {},
    )
    const r = await c.rollouts.deploy({ model: { name: 'kws', version: '2.0.0' }, target: 'env=staging', strategy: 'all' })
    await waitFor(() => devices.every((d) => d.desiredSeen.length === 1), { what: 'desired delivered' })
    // The controller has seen both rpi4 devices on the release, with 1.0.0 as their previous model.
    await waitFor(
      async () =>
        (await c.live.views(['dev-1', 'dev-3'])).every(
          (v) => v.reported?.phase === 'active' && v.reported.slots.some((s) => s.role === 'previous'),
        ),
      { what: 'the rpi4 devices reported on 2.0.0' },
    )
    // The operator rolls back one hardware class while the rollout is still waiting for the other.
    const rb = await c.rollouts.rollback({ target: 'hw=rpi4', toPrevious: true })
    expect(rb.rollout?.devices?.sort()).toEqual(['dev-1', 'dev-3'])
    await waitFor(async () => (await c.repo.get(r.id)).finalized, { what: 'superseded rollout finalized' })
    await waitFor(async () => (await c.repo.desired(ids)).every((d) => d?.sha256 === v1.sha256), {
      what: 'every device told to run 1.0.0 again',
    })
    const progress = await c.repo.progress(r.id)
    for (const id of ['dev-0', 'dev-2'])
      expect(progress.get(id)).toMatchObject({
        outcome: 'failed',
        reverted: true,
        error: `superseded by ${rb.rollout?.id ?? ''}; sent back to 1.0.0`,
      })
    // The rollback sent its own devices back once; the stopped rollout did not send them a second time.
    const byRollback = await c.repo.desired(['dev-1', 'dev-3'])
    expect(byRollback.map((d) => d?.rolloutId)).toEqual([rb.rollout?.id, rb.rollout?.id])
  })

  it('a new rollout over busy devices is refused unless it supersedes', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const { ids, v1 } = await setupFleet(c, env, 3)
    await using _devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids, () => ({
      behaviour: 'silent',
    }))
    const first = await c.rollouts.deploy({ model: { name: 'kws', version: '2.0.0' }, target: 'env=staging', strategy: 'all' })
    await expect(c.rollouts.deploy({ model: { name: 'kws', version: '1.0.0' }, target: 'hw=rpi4', strategy: 'all' })).rejects.toMatchObject(
      { code: 'ROLLOUT_CONFLICT' },
    )
    const second = await c.rollouts.deploy({
      model: { name: 'kws', version: '1.0.0' },
      target: 'hw=rpi4',
      strategy: 'all',
      supersede: true,
    })
    expect((await c.repo.get(first.id)).state).toBe('aborted')
    expect(second.supersedes).toEqual([first.id])
    await waitFor(async () => (await c.repo.get(first.id)).finalized, { what: 'superseded rollout finalized' })
  })
})
