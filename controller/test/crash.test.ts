import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { REDIS_URL, redisClient, startFakeDevices, waitFor, type FakeDevice } from '@liquid-edge/test/harness'
import { createKeys, RolloutRepo, type Controller } from '../src/index.js'
import { ADMIN, api, setupFleet, testEnv, waitForState, type Env } from './helpers.js'

const here = dirname(fileURLToPath(import.meta.url))

async function auditEvents(env: Env, rolloutId: string): Promise<{ event: string; step?: number }[]> {
  const redis = redisClient()
  const entries = await redis.xrange(createKeys(env.prefix).audit, '-', '+')
  await redis.quit()
  return entries
    .map(([, fields]) => JSON.parse(fields[1] ?? '{}') as { event: string; rolloutId: string; step?: number })
    .filter((e) => e.rolloutId === rolloutId)
}

/** Every device got at most one generation for the rollout: no generation issued twice. */
function expectOneGenerationEach(devices: readonly FakeDevice[]): void {
  for (const d of devices) expect(new Set(d.desiredSeen).size).toBeLessThanOrEqual(1)
}

function expectEachStepOnce(events: { event: string; step?: number }[], steps: number): void {
  for (let s = 0; s < steps; s++) {
    expect(events.filter((e) => e.event === 'step-started' && e.step === s)).toHaveLength(1)
    expect(events.filter((e) => e.event === 'step-completed' && e.step === s)).toHaveLength(1)
  }
  expect(events.filter((e) => e.event === 'rollout-completed')).toHaveLength(1)
}

describe('crash safety', () => {
  it('a restarted controller resumes a rollout at each step boundary without issuing a generation twice', async () => {
    await using env = await testEnv()
    let c: Controller = await env.start('ctl-a')
    const { ids, v1 } = await setupFleet(c, env, 12)
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids)
    // A crash between issuing a generation and publishing it: the record exists, the message never left.
    const r = await c.rollouts.deploy({
      model: { name: 'kws', version: '2.0.0' },
      target: 'env=staging',
      steps: [{ percent: 25 }, { percent: 50 }, { percent: 100 }],
      bakeMs: 300,
    })
    for (const [i, name] of ['ctl-b', 'ctl-c', 'ctl-d'].entries()) {
      await waitFor(async () => (await c.repo.get(r.id)).step >= i, { timeoutMs: 15_000, what: `step ${i}` })
      await c.close()
      c = await env.start(name)
    }
    await waitForState(c, r.id, 'completed', 20_000)
    expectOneGenerationEach(devices)
    for (const d of devices) expect(d.active?.version).toBe('2.0.0')
    expectEachStepOnce(await auditEvents(env, r.id), 3)
  })

  it('a desired state whose publish was lost in a crash is published by the next tick with the same generation', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const { ids, v1, v2 } = await setupFleet(c, env, 2)
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids)
    const r = await c.rollouts.deploy({ model: { name: 'kws', version: '2.0.0' }, target: 'env=staging', strategy: 'all' })
    // Simulate: the generation was issued for dev-9 but the process died before publishing it.
    await c.registry.addMany([{ id: 'dev-9', labels: { env: 'elsewhere' } }])
    const late = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ['dev-9'])
    const to = { name: v2.name, version: v2.version, sha256: v2.sha256 }
    const issued = await c.repo.dispatch(
      r.id,
      'dev-9',
      {
        gen: 0,
        step: 0,
        at: Date.now(),
        published: false,
        outcome: 'pending',
        outcomeAt: null,
        error: null,
        from: v1,
        to,
        switched: 'no',
        reverted: false,
      },
      { rolloutId: r.id, ...to, mode: 'activate', at: Date.now() },
      1,
    )
    expect(issued.status).toBe('created')
    await waitForState(c, r.id, 'completed')
    await waitFor(() => late[0]?.phase === 'active', { what: 'dev-9 to converge' })
    expect(late[0]?.desiredSeen).toEqual([issued.status === 'created' ? issued.progress.gen : -1])
    expectOneGenerationEach([...devices, ...late])
    await late[Symbol.asyncDispose]()
  })

  it('two controllers drive one rollout through one lease, each step once', async () => {
    await using env = await testEnv()
    const a = await env.start('ctl-a')
    const b = await env.start('ctl-b')
    const { ids, v1 } = await setupFleet(a, env, 10)
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids)
    const r = await b.rollouts.deploy({
      model: { name: 'kws', version: '2.0.0' },
      target: 'env=staging',
      steps: [{ percent: 30 }, { percent: 100 }],
      bakeMs: 200,
    })
    const holders = new Set<string>()
    await waitFor(
      async () => {
        const h = await a.repo.leaseHolder(r.id)
        if (h !== null) holders.add(h)
        return (await a.repo.get(r.id)).state === 'completed'
      },
      { timeoutMs: 15_000, intervalMs: 10 },
    )
    // The lease may move when its holder stalls past leaseMs (a loaded CI machine): what must hold
    // is that no device got a generation twice and no step ran twice, whoever drove it.
    expect(holders.size).toBeGreaterThanOrEqual(1)
    expect(holders.size).toBeLessThanOrEqual(2)
    expectOneGenerationEach(devices)
    expectEachStepOnce(await auditEvents(env, r.id), 2)
  })

  it('a controller process killed with SIGKILL mid-rollout is resumed by a new process', async () => {
    await using env = await testEnv()
    const bin = join(here, '../src/bin/liquid-controller.ts')
    const childEnv = {
      ...process.env,
      LLN_REDIS_URL: REDIS_URL,
      LLN_PREFIX: env.prefix,
      LLN_BULL_PREFIX: env.bullPrefix,
      LLN_MQTT_URL: env.broker.url,
      LLN_ROOT: env.root,
      LLN_HTTP_PORT: '0',
      LLN_STORE_DIR: env.storeDir,
      LLN_ADMIN_TOKEN: ADMIN,
      LLN_TICK_MS: '100',
      LLN_LEASE_MS: '1000',
      LLN_LOG_LEVEL: 'silent',
      LLN_PUBLISHER_KEYS: env.publisher.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
    }
    const spawnController = async (): Promise<{ child: ChildProcess; url: string }> => {
      const child = spawn(process.execPath, ['--conditions=@liquid-edge/source', '--import', 'tsx', bin], {
        env: childEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let out = ''
      let err = ''
      child.stdout.on('data', (b: Buffer) => (out += b.toString()))
      child.stderr.on('data', (b: Buffer) => (err += b.toString()))
      const url = await waitFor(() => /listening on (\S+)/.exec(out)?.[1], { timeoutMs: 30_000, what: 'controller to listen' }).catch(
        (e: unknown) => {
          child.kill('SIGKILL')
          throw new Error(`${String(e)}\nstdout: ${out}\nstderr: ${err.slice(-3000)}`)
        },
      )
      return { child, url }
    }
    const { child: first, url } = await spawnController()
    const local = await env.start()
    const call = api(Object.assign(Object.create(local) as Controller, { url }))
    const { ids, v1 } = await setupFleet(local, env, 8)
    await local.close()
    env.controllers.length = 0
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids)
    const res = await call<{ id: string }>('POST', '/v1/rollouts', {
      model: { name: 'kws', version: '2.0.0' },
      target: 'env=staging',
      steps: [{ percent: 50 }, { percent: 100 }],
      bakeMs: 1500,
    })
    expect(res.status).toBe(201)
    const redis = redisClient()
    const repo = new RolloutRepo(redis, createKeys(env.prefix))
    await waitFor(async () => (await repo.get(res.body.id)).bakeUntil !== null, { timeoutMs: 15_000, what: 'step 0 baking' })
    first.kill('SIGKILL')
    await once(first, 'exit')
    // The successor runs in-process (a second child would only add a slow start-up).
    await env.start('ctl-successor')
    try {
      await waitFor(async () => (await repo.get(res.body.id)).state === 'completed', { timeoutMs: 30_000, what: 'completed after restart' })
    } finally {
      await redis.quit()
    }
    expectOneGenerationEach(devices)
    for (const d of devices) expect(d.active?.version).toBe('2.0.0')
    expectEachStepOnce(await auditEvents(env, res.body.id), 2)
  }, 60_000)
})
