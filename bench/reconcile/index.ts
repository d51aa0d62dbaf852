/**
 * bench/reconcile: what desired-state reconciliation costs a controller holding N devices. A full
 * pass (on start and on every broker reconnect) reads every desired record and every device's
 * report; a periodic step reads one batch. Beside each, in the same run: the least any
 * reconciliation must read — the same records and reports by raw HSCAN + HMGET, nothing parsed,
 * nothing compared. 1% of the devices are behind their record (a broker lost their retained
 * message) and get it again, on an in-process aedes broker.
 *
 *   npm run bench reconcile                    # 10,000 devices
 *   BENCH_SIZES=10000,100000 npm run bench reconcile
 */
import { generateKeyPairSync } from 'node:crypto'
import type { Redis } from 'ioredis'
import { opaquePackage, redisClient, startPlainBroker } from '@liquid-edge/test/harness'
import { controllerSpace } from '@liquid-edge/test/controller'
import { PolicySchema } from '@liquid-edge/protocol'
import { createController, createKeys, type Keys } from '@liquid-edge/controller'

const sizes = (process.env.BENCH_SIZES ?? '10000').split(',').map(Number)
const BATCH = 500
const publisher = generateKeyPairSync('ed25519')

/** N devices assigned `model` at generation 2; every 100th has reported only generation 1. */
async function seed(redis: Redis, keys: Keys, n: number, model: { name: string; version: string; sha256: string }): Promise<void> {
  const template = JSON.stringify({
    policy: PolicySchema.parse({ latencyThresholdMs: 5 }),
    mode: 'activate',
    expiresAt: null,
    reason: null,
  })
  await redis.hset(keys.desiredBodies, 'bench', template)
  for (let i = 0; i < n; i += 1000) {
    const desired: Record<string, string> = {}
    const reported: Record<string, string> = {}
    const status: Record<string, string> = {}
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      const id = `dev-${j}`
      desired[id] = JSON.stringify({
        gen: 2,
        rolloutId: 'r-bench',
        ...model,
        mode: 'activate',
        at: 1,
        from: null,
        body: 'bench',
        retained: true,
      })
      const slots = [{ slot: 'a', role: 'active', model }]
      const generation = j % 100 === 0 ? 1 : 2
      reported[id] = JSON.stringify({
        generation,
        rolloutId: 'r-bench',
        phase: 'active',
        slots,
        error: null,
        hardware: 'x',
        agentVersion: 'b',
        ts: 1,
      })
      status[id] = JSON.stringify({ online: true, session: 1, ts: 1, seenAt: 1 })
    }
    await redis.hset(keys.desired, desired)
    await redis.hset(keys.reported, reported)
    await redis.hset(keys.status, status)
  }
}

/** The floor: every record and report read, a batch at a time, nothing parsed. */
async function rawRead(redis: Redis, keys: Keys, limit = Number.POSITIVE_INFINITY): Promise<number> {
  let cursor = '0'
  let read = 0
  do {
    const [next, flat] = await redis.hscan(keys.desired, cursor, 'COUNT', BATCH)
    cursor = next
    const ids = flat.filter((_, i) => i % 2 === 0)
    if (ids.length > 0) await Promise.all([redis.hmget(keys.reported, ...ids), redis.hmget(keys.status, ...ids)])
    read += ids.length
  } while (cursor !== '0' && read < limit)
  return read
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now()
  const value = await fn()
  return { ms: performance.now() - t0, value }
}

async function run(n: number): Promise<void> {
  const broker = await startPlainBroker()
  const space = controllerSpace('bench-rc')
  const redis = redisClient()
  const keys = createKeys(space.prefix)
  // A period longer than the run: the bench drives the steps itself.
  const config = space.config(broker.url, { reconcileMs: 3_600_000, reconcileBatch: BATCH })
  const c = await createController({ config, publisherKeys: [publisher.publicKey] })
  try {
    const { record } = await c.models.push(opaquePackage(publisher.privateKey, { name: 'bench', version: '1.0.0', modelBytes: 256 }))
    await seed(redis, keys, n, { name: record.name, version: record.version, sha256: record.sha256 })
    await c.reconciler.fullPass('start') // warm up (and the pass the controller began at start)
    const raw = await timed(() => rawRead(redis, keys))
    const full = await timed(() => c.reconciler.fullPass('reconnect'))
    const rawStep = await timed(() => rawRead(redis, keys, BATCH))
    const step = await timed(() => c.reconciler.step())
    const us = (ms: number, k: number) => ((ms * 1000) / Math.max(1, k)).toFixed(1)
    console.log(
      `${n} devices  full pass ${full.ms.toFixed(0)} ms (${us(full.ms, full.value.checked)} µs/device, ${full.value.republished} sent again)` +
        `  vs raw read ${raw.ms.toFixed(0)} ms (${us(raw.ms, raw.value)} µs/device)  = ${(full.ms / raw.ms).toFixed(2)}×`,
    )
    console.log(
      `${n} devices  one periodic step ${step.ms.toFixed(1)} ms for ${step.value.checked} devices` +
        `  vs raw read of one batch ${rawStep.ms.toFixed(1)} ms  (a sweep of the fleet: ${Math.ceil(n / BATCH)} steps)`,
    )
  } finally {
    await c.close()
    await broker.close()
    await redis.quit()
    await space.clean()
  }
}

for (const n of sizes) await run(n)
