/**
 * Controller replicas for real: two `liquid-controller` processes on one Redis and one broker
 * credential, behind one balanced URL (the operator's CLI and the devices' downloads), share a
 * stepped rollout; the one driving it is SIGKILLed in the middle of a step.
 * The other takes the rollout over within its lease (LLN_LEASE_MS, 10 s) and a tick, finishes it,
 * each step once, every device exactly one new generation, none left behind.
 */
import { readFileSync } from 'node:fs'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKeys } from '@liquid-edge/controller'
import { REDIS_URL, waitFor } from '@liquid-edge/test/harness'
import type { ControllerReplica, Sandbox } from '../sandbox/sandbox.js'
import { MODEL, startScenario, type Scenario } from './operator.js'

const OLD = `${MODEL}@1.0.0`
const NEW = `${MODEL}@1.1.0`
const DEVICES = 8
/** The controller's default rollout lease and the sandbox's tick: the stated takeover bound. */
const LEASE_MS = 10_000
const TICK_MS = 500

const redis = new Redis(REDIS_URL)
let scenario: Scenario | undefined
let sandbox: Sandbox
beforeAll(async () => {
  scenario = await startScenario('replicas', {
    fleet: [{ idPrefix: 'rp', count: DEVICES, profile: 'stm32h743', labels: { env: 'staging', hw: 'stm32h743' }, rate: 10 }],
    telemetryWindowMs: 500,
    controllers: 2,
  })
  sandbox = scenario.sandbox
}, 240_000)

afterAll(async () => {
  redis.disconnect()
  await scenario?.close()
}, 60_000)

/** A replica's instance id, from its "controller started" log line. */
function instanceOf(replica: ControllerReplica): string {
  for (const line of readFileSync(replica.service.logFile, 'utf8').split('\n')) {
    if (!line.includes('"controller started"')) continue
    const id = (JSON.parse(line) as { instanceId?: unknown }).instanceId
    if (typeof id === 'string') return id
  }
  throw new Error(`no instance id in ${replica.service.logFile}`)
}

describe('two controller replicas, the one driving a rollout killed mid-step', () => {
  it('the other takes the rollout over within its lease and finishes it: each step once, one generation per device', async ({
    annotate,
  }) => {
    expect(sandbox.controllers).toHaveLength(2)
    const keys = createKeys(sandbox.prefix)
    const op = scenario?.op
    if (op === undefined) throw new Error('no scenario')
    const first = await op.lln(['deploy', '--target', 'env=staging', '--model', OLD, '--strategy', 'all', '--trial', '1s', '--wait'])
    expect(first.code, first.stdout + first.stderr).toBe(0)
    const before = await redis.hgetall(keys.generations)

    const rollout = await op.deploy(['--target', 'env=staging', '--model', NEW, '--steps', '25,50,100', '--bake', '2s', '--trial', '1s'])
    // Mid-step: the driving replica has sent the first step's desired states, and the step is not done.
    await waitFor(async () => (await redis.hlen(keys.rolloutDevices(rollout.id))) > 0, { what: 'the first desired states' })
    const holder = await redis.get(keys.lease(rollout.id))
    const victim = sandbox.controllers.find((c) => instanceOf(c) === holder)
    if (victim === undefined) throw new Error(`the lease holder ${String(holder)} is none of the replicas`)
    const survivor = sandbox.controllers.find((c) => c !== victim)
    if (survivor === undefined) throw new Error('no second replica')
    const killedAt = Date.now()
    await sandbox.crashController(victim)

    const other = instanceOf(survivor)
    await waitFor(async () => (await redis.get(keys.lease(rollout.id))) === other, {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: 'the surviving replica to take the rollout',
    })
    const takeoverMs = Date.now() - killedAt
    // A functional bound (the lease and one tick, with room for a loaded machine), not a speed goal.
    expect(takeoverMs, `taken over after ${takeoverMs} ms`).toBeLessThan(LEASE_MS + TICK_MS + 5000)
    await annotate(`the surviving replica took the rollout over ${takeoverMs} ms after the SIGKILL`)

    await waitFor(async () => (await op.rollout(rollout.id)).state === 'completed', {
      timeoutMs: 180_000,
      what: 'the rollout to complete on the surviving replica',
    }).catch(async (err: unknown) => {
      throw new Error(`${String(err)}: ${JSON.stringify(await op.rollout(rollout.id))} (logs in ${sandbox.dir}/logs)`)
    })
    const done = await op.rollout(rollout.id)
    expect(done.counts).toMatchObject({ cohort: DEVICES, succeeded: DEVICES, failed: 0, silent: 0 })
    await waitFor(async () => Object.values(await op.versions()).every((v) => v === NEW), {
      timeoutMs: 60_000,
      what: `every device on ${NEW}`,
    })
    // Each device got exactly one new generation: none was issued twice across the takeover.
    const after = await redis.hgetall(keys.generations)
    const ids = Object.keys(await op.versions())
    expect(ids).toHaveLength(DEVICES)
    for (const id of ids) expect(Number(after[id]) - Number(before[id]), id).toBe(1)
    const events = await op.events(rollout.id)
    for (let step = 0; step < 3; step++) {
      expect(events.filter((e) => e.event === 'step-started' && (e as { step?: number }).step === step)).toHaveLength(1)
      expect(events.filter((e) => e.event === 'step-completed' && (e as { step?: number }).step === step)).toHaveLength(1)
    }
    expect(events.filter((e) => e.event === 'rollout-completed')).toHaveLength(1)
  }, 420_000)
})
