/**
 * Crash tests that crash, with real processes: mid-rollout, the embedded broker is SIGKILLed with
 * each persistence mode (memory: every retained message and session lost; Redis: kept) and started
 * again. Each time the rollout
 * finishes with every device on the release, online, and exactly one new generation per device —
 * and with none sent back: devices still in their reconnect back-off after the broker returns are
 * not judged silent (the rules' reconnect grace), with a device-unresponsive window of 6 s.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createKeys } from '@liquid-edge/controller'
import { startRedisServer, waitFor, type ChildServer } from '@liquid-edge/test/harness'
import { listDevices } from '../sandbox/fleet.js'
import { MODEL, startScenario, type Scenario } from './operator.js'

const DEVICES = 6
const V1 = `${MODEL}@1.0.0`
const V11 = `${MODEL}@1.1.0`
const V2 = `${MODEL}@2.0.0`

// A Redis of the test's own: it is killed, and the broker's persistence keys have no prefix.
let redisServer: (ChildServer & AsyncDisposable) | undefined
let redis: Redis | undefined
let scenario: Scenario | undefined
beforeAll(async () => {
  redisServer = await startRedisServer({ durable: true })
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: null })
  redis.on('error', () => undefined)
  scenario = await startScenario('crashes', {
    redisUrl: redisServer.url,
    brokerPersistence: 'memory',
    fleet: [{ idPrefix: 'cr', count: DEVICES, profile: 'x86-edge', labels: { env: 'staging', hw: 'x86-edge' }, rate: 20 }],
    // The runbook's rules 5× faster: 6 s of silence is unresponsive, longer than any device's
    // reconnect after the broker is back without the grace, shorter than it with one.
    telemetryWindowMs: 500,
    rulesTimeScale: 0.2,
    rulesEvalMs: 500,
  })
  const r = await scenario.op.lln(['deploy', '--target', 'env=staging', '--model', V1, '--strategy', 'all', '--trial', '1s', '--wait'])
  expect(r.code, r.stdout + r.stderr).toBe(0)
}, 600_000)

afterAll(async () => {
  redis?.disconnect()
  await scenario?.close()
  await redisServer?.[Symbol.asyncDispose]()
}, 60_000)

/** Wait for `predicate`; on timeout the error says what `state` last returned. */
async function until(what: string, timeoutMs: number, predicate: () => Promise<boolean>, state: () => Promise<unknown>): Promise<void> {
  await waitFor(async () => predicate().catch(() => false), { timeoutMs, intervalMs: 250, what }).catch(async (err: unknown) => {
    const seen = await state().catch((e: unknown) => `(state unreadable: ${String(e)})`)
    throw new Error(`${String(err)}; last state: ${JSON.stringify(seen)}`)
  })
}

/**
 * Roll `version` out in steps of 50% and 100%, `crash` once the first step's desired states are
 * out, and check the end: completed, every device on it and online, one generation each, nobody sent back.
 */
async function rollThrough(version: string, crash: () => Promise<void>, say: (line: string) => void): Promise<void> {
  if (scenario === undefined || redis === undefined) throw new Error('no scenario')
  const { sandbox, op } = scenario
  const keys = createKeys(sandbox.prefix)
  const fleet = async () =>
    (await listDevices(sandbox)).map((d) => `${d.id} online=${String(d.online)} ${d.phase ?? '-'} ${d.active ?? '-'}`)
  await until(
    'every device online',
    120_000,
    async () => (await listDevices(sandbox)).filter((d) => d.online === true).length === DEVICES,
    fleet,
  )
  const before = await redis.hgetall(keys.generations)
  const rollout = await op.deploy(['--target', 'env=staging', '--model', version, '--steps', '50,100', '--bake', '3s', '--trial', '1s'])
  await until(
    'the first desired states of the rollout',
    60_000,
    async () => (await redis!.hlen(keys.rolloutDevices(rollout.id))) > 0,
    () => op.rollout(rollout.id),
  )
  const t0 = Date.now()
  await crash()
  say(`${version}: crashed and restarted in ${Date.now() - t0} ms`)
  const state = async () => ({
    rollout: await op.rollout(rollout.id),
    decisions: (await op.events(rollout.id)).filter((e) => e.event === 'decision'),
    fleet: await fleet(),
    logs: `${sandbox.dir}/logs`,
  })
  await until('the rollout to complete', 180_000, async () => (await op.rollout(rollout.id)).state === 'completed', state)
  say(`${version}: completed ${Date.now() - t0} ms after the crash`)
  expect((await op.rollout(rollout.id)).counts).toMatchObject({ cohort: DEVICES, succeeded: DEVICES, failed: 0, silent: 0 })
  // Zero devices left unconverged: every device runs the release and is online.
  await until(
    `every device online on ${version}`,
    60_000,
    async () => {
      const devices = await listDevices(sandbox)
      return devices.length === DEVICES && devices.every((d) => d.online === true && d.active === version)
    },
    state,
  )
  // Nobody was sent back.
  const sentBack = (await op.events(rollout.id)).filter((e) => e.event === 'decision')
  expect(sentBack).toEqual([])
  // Zero duplicate generations: each device got exactly one new desired state for the rollout.
  const after = await redis.hgetall(keys.generations)
  const ids = (await listDevices(sandbox)).map((d) => d.id)
  expect(Object.fromEntries(ids.map((id) => [id, Number(after[id]) - Number(before[id])]))).toEqual(
    Object.fromEntries(ids.map((id) => [id, 1])),
  )
}

describe('crashes mid-rollout', () => {
  it('the broker killed with in-memory persistence: every retained message lost', async ({ annotate }) => {
    const sandbox = scenario?.sandbox
    if (sandbox === undefined) throw new Error('no scenario')
    expect(sandbox.brokerPersistence).toBe('memory')
    await rollThrough(
      V11,
      () => sandbox.restartBroker(true),
      (line) => void annotate(line),
    )
  }, 300_000)

  it('the broker killed with Redis persistence', async ({ annotate }) => {
    const sandbox = scenario?.sandbox
    if (sandbox === undefined) throw new Error('no scenario')
    // Not the crash: the broker moves to Redis persistence, stopped and started cleanly.
    await sandbox.restartBroker(false, 'redis')
    await rollThrough(
      V2,
      () => sandbox.restartBroker(true),
      (line) => void annotate(line),
    )
    expect(sandbox.brokerPersistence).toBe('redis')
  }, 300_000)
})
