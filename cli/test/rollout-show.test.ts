import { describe, expect, it } from 'vitest'
import { startFakeDevices, waitFor, type FakeDevice } from '@liquid-edge/test/harness'
import { ADMIN, makePackage, testEnv } from '@liquid-edge/test/controller'
import { runCli } from '../src/index.js'

async function lln(url: string, ...args: string[]): Promise<{ code: number; out: string }> {
  let out = ''
  const code = await runCli(['--api-url', url, '--token', ADMIN, ...args], {
    stdout: (s) => (out += s),
    stderr: (s) => (out += s),
    env: {},
    isTTY: false,
  })
  return { code, out }
}

describe('liquid-lln rollout show', () => {
  it('says which devices of a rollback are offline and which are online but did not answer', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const ids = ['rs-0', 'rs-1', 'rs-2']
    await c.registry.addMany(ids.map((id) => ({ id, labels: { env: 'staging' } })))
    const v1 = (await c.models.push(makePackage(env.publisher, 'kws', '1.0.0'))).record
    await c.models.push(makePackage(env.publisher, 'kws', '2.0.0'))
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids)
    const deployed = await lln(c.url, '--json', 'deploy', '--target', 'env=staging', '--model', 'kws@2.0.0', '--strategy', 'all', '--wait')
    expect(deployed.code, deployed.out).toBe(0)
    const { id } = JSON.parse(deployed.out) as { id: string }
    const [ok, silent, away] = [...devices] as [FakeDevice, FakeDevice, FakeDevice]
    await away.crash()
    await waitFor(async () => (await c.live.views([away.id]))[0]?.status?.online === false, { what: 'the device offline' })
    silent.behaviour = 'silent'
    const rb = await c.rollouts.rollback({ rolloutId: id, toPrevious: true, stepDeadlineMs: 1000 })
    const rollbackId = rb.rollout?.id ?? ''
    await waitFor(async () => (await c.repo.find(rollbackId))?.state === 'completed', { what: 'the rollback completed' })
    expect(ok.active?.sha256).toBe(v1.sha256)
    const shown = await lln(c.url, 'rollout', 'show', rollbackId)
    expect(shown.out).toContain(
      `1 devices unreachable (offline); they converge from their retained desired state when they return: ${away.id}`,
    )
    expect(shown.out).toContain(
      `1 devices online but silent (no answer in time); the controller keeps sending their desired state: ${silent.id}`,
    )
    const events = await lln(c.url, 'events', '--rollout', rollbackId)
    expect(events.out).toMatch(new RegExp(`1 online but silent for 1000 ms, the controller keeps sending their way back: ${silent.id}`))
    // It answers at last: the finished rollback counts it, and nothing is listed as silent any more but the offline one.
    silent.behaviour = 'ok'
    await waitFor(() => silent.active?.sha256 === v1.sha256, { timeoutMs: 30_000, what: 'the silent device back on 1.0.0' })
    await waitFor(async () => (await c.repo.get(rollbackId)).counts.succeeded === 2, { what: 'the rollback to count it' })
    expect((await lln(c.url, 'rollout', 'show', rollbackId)).out).not.toContain('online but silent')
  })
})
