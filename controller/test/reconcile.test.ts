import { describe, expect, it } from 'vitest'
import { connectClient, redisClient, startFakeDevices, waitFor, type FakeDevice } from '@liquid-edge/test/harness'
import type { Controller } from '../src/index.js'
import { setupFleet, testEnv, waitForState } from './helpers.js'

/** A counter of the controller's /metrics, summed over its labels matching `labels`. */
async function metric(c: Controller, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${c.url}/metrics`)).text()
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0)
}

async function offline(c: Controller, devices: readonly FakeDevice[]): Promise<void> {
  await Promise.all(devices.map((d) => d.crash()))
  await waitFor(async () => (await c.live.views(devices.map((d) => d.id))).every((v) => v.status?.online === false), {
    what: 'the devices offline',
  })
}

describe('desired-state reconciliation', () => {
  it('a rollback issued while the fleet is offline survives a broker restart: every device converges when it returns', async () => {
    await using env = await testEnv({ reconcileMs: 200 })
    const c = await env.start()
    const { ids, v1, v2 } = await setupFleet(c, env, 4)
    const devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids)
    const r = await c.rollouts.deploy({ model: { name: 'kws', version: '2.0.0' }, target: 'env=staging', strategy: 'all' })
    await waitForState(c, r.id, 'completed')
    await waitFor(
      async () =>
        (await c.live.views(ids)).every((v) => v.reported?.slots.some((s) => s.model.sha256 === v2.sha256 && s.role === 'active')),
      {
        what: 'the controller to see the fleet on 2.0.0',
      },
    )
    await offline(c, devices)
    const rb = await c.rollouts.rollback({ rolloutId: r.id, toPrevious: true })
    // Nobody is reachable: the rollback does not wait, and lists them all.
    const done = await waitForState(c, rb.rollout?.id ?? '', 'completed')
    expect(done.counts).toMatchObject({ cohort: 4, succeeded: 0, silent: 4 })
    // A broker without persistence restarts: the retained desired states of the rollback are gone.
    await env.restartBroker()
    await waitFor(async () => (await metric(c, 'lln_desired_republished_total', 'trigger="reconnect"')) >= 4, {
      what: 'the controller to republish after the broker came back',
    })
    for (const d of devices) await d.start()
    await waitFor(() => devices.every((d) => d.active?.sha256 === v1.sha256), { what: 'every device back on 1.0.0' })
    // The rollback's result follows: every device converged, none silent.
    await waitFor(async () => (await c.repo.get(done.id)).counts.succeeded === 4, { what: 'the rollback to count them' })
    expect((await c.repo.get(done.id)).counts).toMatchObject({ succeeded: 4, silent: 0 })
    // Republished with the same generation: each device acted on the rollback's generation, no other.
    const records = await c.repo.desired(ids)
    for (const [i, d] of devices.entries()) {
      expect(d.generation).toBe(records[i]?.gen)
      expect(Math.max(...d.desiredSeen)).toBe(records[i]?.gen)
    }
    await Promise.all(devices.map((d) => d.stop()))
  })

  it('a controller that starts after the broker lost its retained states sends them again before any device returns', async () => {
    await using env = await testEnv({ reconcileMs: 200 })
    const first = await env.start('ctl-a')
    const { ids, v1 } = await setupFleet(first, env, 3)
    const devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids)
    const r = await first.rollouts.deploy({ model: { name: 'kws', version: '2.0.0' }, target: 'env=staging', strategy: 'all' })
    await waitForState(first, r.id, 'completed')
    await offline(first, devices)
    const rb = await first.rollouts.rollback({ rolloutId: r.id, toPrevious: true })
    await waitForState(first, rb.rollout?.id ?? '', 'completed')
    // The controller is down while the broker restarts: nobody sees the retained states go.
    await first.close()
    await env.restartBroker()
    const c = await env.start('ctl-b')
    await waitFor(async () => (await metric(c, 'lln_desired_republished_total', 'trigger="start"')) >= 3, {
      what: 'the starting controller to republish them',
    })
    for (const d of devices) await d.start()
    await waitFor(() => devices.every((d) => d.active?.sha256 === v1.sha256), { what: 'every device back on 1.0.0' })
    const records = await c.repo.desired(ids)
    for (const [i, d] of devices.entries()) expect(d.generation).toBe(records[i]?.gen)
    await Promise.all(devices.map((d) => d.stop()))
  })

  it('a device that comes online behind its desired state gets it again', async () => {
    await using env = await testEnv({ reconcileMs: 200 })
    const c = await env.start()
    const { ids, v1, v2 } = await setupFleet(c, env, 2)
    const devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids)
    await offline(c, devices)
    const r = await c.rollouts.deploy({ model: { name: 'kws', version: '2.0.0' }, target: 'env=staging', strategy: 'all' })
    await waitFor(async () => [...(await c.repo.progress(r.id)).values()].filter((p) => p.published).length === 2, {
      what: 'the desired states published',
    })
    // The broker loses the retained states (a cluster node restarted, say) without the controller noticing.
    const other = await connectClient(env.broker.url)
    for (const d of devices) await other.publishAsync(d.codec.topics.desired(d.id), Buffer.alloc(0), { qos: 1, retain: true })
    await other.endAsync()
    for (const d of devices) await d.start()
    await waitFor(() => devices.every((d) => d.active?.sha256 === v2.sha256), { what: 'both devices on 2.0.0' })
    // Sent again on its return (or by the sweep, whichever came first): nothing else would have.
    expect(await metric(c, 'lln_desired_republished_total', 'kind="desired"')).toBeGreaterThanOrEqual(2)
    await waitForState(c, r.id, 'completed')
    await Promise.all(devices.map((d) => d.stop()))
  })

  it('a blue-green switch reaches a device that was offline when it was sent', async () => {
    await using env = await testEnv({ reconcileMs: 200 })
    const c = await env.start()
    const { ids, v1, v2 } = await setupFleet(c, env, 3)
    const devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids)
    const r = await c.rollouts.deploy({ model: { name: 'kws', version: '2.0.0' }, target: 'env=staging', strategy: 'blue-green' })
    await waitForState(c, r.id, 'staged')
    const away = devices[2] as FakeDevice
    await offline(c, [away])
    await c.rollouts.switch({ rolloutId: r.id })
    const done = await waitForState(c, r.id, 'completed')
    expect(done.reason ?? '').toBe('')
    expect(devices.slice(0, 2).every((d) => d.active?.sha256 === v2.sha256)).toBe(true)
    expect(away.active?.sha256).toBe(v1.sha256)
    // A pending command that no longer parses (a hand edit, an older schema) is dropped by the sweep, never thrown on.
    const redis = redisClient()
    const pendingKey = `${env.prefix}:commands:pending`
    await redis.hset(pendingKey, devices[0]?.id ?? '', '{not json')
    await waitFor(async () => (await redis.hexists(pendingKey, devices[0]?.id ?? '')) === 0, { what: 'the corrupt record dropped' })
    await redis.quit()
    await away.start()
    await waitFor(() => away.active?.sha256 === v2.sha256, { what: 'the returning device switched' })
    expect(away.commandsSeen.filter((cmd) => cmd.body.kind === 'switch')).toHaveLength(1)
    await Promise.all(devices.map((d) => d.stop()))
  })
})
