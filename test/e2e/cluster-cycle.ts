/**
 * The core rollout cycle on a clustered broker with one node killed mid-rollout, shared by the
 * cluster e2e files: install 1.0.0, deploy 1.1.0 in steps of 25% and 100% and SIGKILL a broker node
 * once the first step's desired states are out, then a bad 2.0.0 that the error-rate rule rolls back
 * by itself. Every wait polls with a deadline and fails with the state it last saw.
 */
import { expect } from 'vitest'
import type { Redis } from 'ioredis'
import { createKeys } from '@liquid-edge/controller'
import { waitFor } from '@liquid-edge/test/harness'
import { listDevices } from '../sandbox/fleet.js'
import type { Sandbox } from '../sandbox/sandbox.js'
import { MODEL, type Operator } from './operator.js'

export const OLD = `${MODEL}@1.0.0`
export const NEW = `${MODEL}@1.1.0`
export const BAD = `${MODEL}@2.0.0`

export interface ClusterCycle {
  sandbox: Sandbox
  op: Operator
  /** The controller's Redis (the sandbox's `redisUrl`). */
  redis: Redis
  devices: number
  /** Kill a broker node; called once the rollout's first desired states are out. */
  kill(): Promise<void>
  /** After the rollout completed: check the dead node's devices are on the others. */
  moved(): Promise<void>
  say(line: string): void
}

/** Wait for `predicate`; on timeout the error says what `state` last returned. */
async function until(what: string, timeoutMs: number, predicate: () => Promise<boolean>, state: () => Promise<unknown>): Promise<void> {
  await waitFor(predicate, { timeoutMs, intervalMs: 250, what }).catch(async (err: unknown) => {
    const seen = await state().catch((e: unknown) => `(state unreadable: ${String(e)})`)
    throw new Error(`${String(err)}; last state: ${JSON.stringify(seen)}`)
  })
}

/** Every device's id, online flag, phase and active model: what a failure message shows. */
async function fleetState(sandbox: Sandbox): Promise<unknown> {
  return (await listDevices(sandbox)).map((d) => `${d.id} online=${String(d.online)} ${d.phase ?? '-'} ${d.active ?? '-'}`)
}

export async function clusterCycle(c: ClusterCycle): Promise<void> {
  const { sandbox, op, redis, devices } = c
  const keys = createKeys(sandbox.prefix)
  const allOn = async (version: string) => {
    const v = Object.values(await op.versions())
    return v.length === devices && v.every((x) => x === version)
  }

  const first = await op.lln(['deploy', '--target', 'env=staging', '--model', OLD, '--strategy', 'all', '--trial', '1s', '--wait'])
  expect(first.code, first.stdout + first.stderr).toBe(0)
  await until(
    `every device on ${OLD}`,
    120_000,
    () => allOn(OLD),
    () => fleetState(sandbox),
  )
  const before = await redis.hgetall(keys.generations)

  // 25% → 100%; the node dies once the first step's desired states are out.
  const rollout = await op.deploy(['--target', 'env=staging', '--model', NEW, '--steps', '25,100', '--bake', '3s', '--trial', '1s'])
  await until(
    'the first desired states of the rollout',
    60_000,
    async () => (await redis.hlen(keys.rolloutDevices(rollout.id))) > 0,
    () => op.rollout(rollout.id),
  )
  const killedAt = Date.now()
  await c.kill()
  c.say(`killed a broker node ${Date.now() - killedAt} ms after the first step's desired states were out`)
  await until(
    'the rollout to complete after the node died',
    240_000,
    async () => (await op.rollout(rollout.id)).state === 'completed',
    async () => ({ rollout: await op.rollout(rollout.id), fleet: await fleetState(sandbox), logs: `${sandbox.dir}/logs` }),
  )
  c.say(`the rollout completed ${Date.now() - killedAt} ms after the kill`)
  expect((await op.rollout(rollout.id)).counts).toMatchObject({ cohort: devices, succeeded: devices, failed: 0, silent: 0 })
  // Zero devices left behind: every device runs the new model and is online (on a surviving node).
  await until(
    `every device online on ${NEW}`,
    120_000,
    async () => (await allOn(NEW)) && (await listDevices(sandbox)).every((d) => d.online === true),
    () => fleetState(sandbox),
  )
  await c.moved()
  // Zero duplicate generations: each device got exactly one new desired state for the rollout.
  const after = await redis.hgetall(keys.generations)
  const ids = Object.keys(await op.versions())
  expect(ids).toHaveLength(devices)
  const deltas = Object.fromEntries(ids.map((id) => [id, Number(after[id]) - Number(before[id])]))
  expect(deltas).toEqual(Object.fromEntries(ids.map((id) => [id, 1])))
  const events = await op.events(rollout.id)
  for (let step = 0; step < 2; step++) {
    expect(events.filter((e) => e.event === 'step-started' && (e as { step?: number }).step === step)).toHaveLength(1)
    expect(events.filter((e) => e.event === 'step-completed' && (e as { step?: number }).step === step)).toHaveLength(1)
  }

  // The automatic rollback, on the nodes that are left: a release whose inferences fail half the time.
  const beforeBad = await redis.hgetall(keys.generations)
  const bad = await op.deploy(['--target', 'env=staging', '--model', BAD, '--steps', '25,100', '--bake', '10m', '--trial', '1s'])
  await op.firstStepSucceeded(bad.id)
  const canaries = new Set(Object.entries(await op.versions()).flatMap(([id, v]) => (v === BAD ? [id] : [])))
  expect(canaries.size).toBeGreaterThan(0)
  await op.faults({ errorRate: 0.5, modelVersion: '2.0.0' })
  await until(
    'the error-rate rule to roll the release back',
    // The runbook's rule: over 10% for 2 minutes of 30 s windows.
    300_000,
    async () => (await op.rollout(bad.id)).state === 'rolled-back',
    async () => ({ rollout: await op.rollout(bad.id), rules: await op.rules(bad.id), fleet: await fleetState(sandbox) }),
  )
  const decisions = (await op.events(bad.id)).filter((e) => e.event === 'decision' && e.action === 'rollback-rollout')
  expect(decisions.map((d) => d.evidence?.rule)).toEqual(['error-rate'])
  await op.faults(null)
  await until(
    `every device back on ${NEW}`,
    120_000,
    () => allOn(NEW),
    () => fleetState(sandbox),
  )
  // The canaries got two generations (to BAD and back to NEW); the others were never sent anything.
  const end = await redis.hgetall(keys.generations)
  const backDeltas = Object.fromEntries(ids.map((id) => [id, Number(end[id]) - Number(beforeBad[id])]))
  expect(backDeltas).toEqual(Object.fromEntries(ids.map((id) => [id, canaries.has(id) ? 2 : 0])))
}
