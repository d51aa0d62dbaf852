/**
 * bench/rollout: time from `deploy` at 100% to "every device reports active", and from
 * `rollback --to-previous` to "every device is back", for N fake devices on an in-process aedes
 * broker — beside a raw fan-out of N retained messages to the same clients in the same run.
 *
 *   npm run bench rollout                 # 1,000 devices (about 2 minutes on 2 cores)
 *   BENCH_SIZES=1000,10000 npm run bench rollout
 */
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPairSync } from 'node:crypto'
import {
  REDIS_URL,
  deleteKeys,
  opaquePackage,
  redisClient,
  startPlainBroker,
  uniquePrefix,
  uniqueRoot,
  waitFor,
} from '@liquid-edge/test/harness'
import { createController, loadConfig } from '@liquid-edge/controller'

const here = dirname(fileURLToPath(import.meta.url))
interface FleetCounts {
  connected: number
  received: number
  desired: number
  active: Record<string, number>
  downloads: number
}
const sizes = (process.env.BENCH_SIZES ?? '1000').split(',').map(Number)
const publisher = generateKeyPairSync('ed25519')

const pkg = (version: string) => opaquePackage(publisher.privateKey, { name: 'bench', version, modelBytes: 2048 })

async function inBatches<T>(items: readonly T[], size: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn))
}

async function run(n: number): Promise<void> {
  const broker = await startPlainBroker()
  const root = uniqueRoot()
  const prefix = uniquePrefix('bench')
  const bullPrefix = uniquePrefix('bench-bull')
  const storeDir = mkdtempSync(join(tmpdir(), 'lln-bench-'))
  const config = loadConfig(
    {},
    {
      redisUrl: REDIS_URL,
      prefix,
      bullPrefix,
      mqttUrl: broker.url,
      root,
      httpPort: 0,
      storeDir,
      tickMs: 200,
      leaseMs: 10_000,
      logLevel: 'silent',
    },
  )
  const c = await createController({ config, publisherKeys: [publisher.publicKey] })
  const v1 = (await c.models.push(pkg('1.0.0'))).record
  await c.models.push(pkg('2.0.0'))
  const ids = Array.from({ length: n }, (_, i) => `b-${i}`)
  await c.registry.addMany(ids.map((id) => ({ id, labels: { env: 'bench' } })))
  const initialModel = { name: v1.name, version: v1.version, sha256: v1.sha256 }
  let t = performance.now()
  const fleet = fork(join(here, 'fleet.ts'), [], {
    execArgv: ['--conditions=@liquid-edge/source', '--import', 'tsx'],
    env: { ...process.env, BENCH_URL: broker.url, BENCH_ROOT: root, BENCH_N: String(n), BENCH_MODEL: JSON.stringify(initialModel) },
  })
  let last: FleetCounts = { connected: 0, received: 0, desired: 0, active: {}, downloads: 0 }
  fleet.on('message', (m) => (last = m as FleetCounts))
  await waitFor(() => last.connected === n, { timeoutMs: 600_000, what: 'fleet connected' })
  console.log(`  ${n} devices connected in ${((performance.now() - t) / 1000).toFixed(1)} s (fake devices in a child process)`)
  const timeout = { timeoutMs: 600_000, intervalMs: 25 }

  // Baseline: N retained QoS 1 messages, one per device topic, from one client, to the same clients.
  const pub = await (await import('mqtt')).default.connectAsync(broker.url, { reconnectPeriod: 0 })
  t = performance.now()
  await inBatches(ids, 500, (id) => pub.publishAsync(`${root}/devices/${id}/desired`, '{"bench":"raw"}', { qos: 1, retain: true }))
  await waitFor(() => last.received === n, { ...timeout, what: 'raw fan-out' })
  const raw = performance.now() - t
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`
  console.log(`  raw fan-out of ${n} retained messages:      ${s(raw)}  (baseline)`)
  await inBatches(ids, 500, (id) => pub.publishAsync(`${root}/devices/${id}/desired`, '', { qos: 1, retain: true }))
  await pub.endAsync()

  t = performance.now()
  const r = await c.rollouts.deploy({
    model: { name: 'bench', version: '2.0.0' },
    target: 'env=bench',
    strategy: 'all',
    stepDeadlineMs: 600_000,
  })
  await waitFor(() => last.desired === n, { ...timeout, what: 'desired delivered' })
  const delivered = performance.now() - t
  await waitFor(() => last.active['2.0.0'] === n, { ...timeout, what: 'deploy' })
  const deploy = performance.now() - t
  await waitFor(async () => (await c.repo.get(r.id)).state === 'completed', timeout)
  const deployCompleted = performance.now() - t
  console.log(
    `  deploy 100% → every device active:         ${s(deploy)}  ${(deploy / raw).toFixed(2)}× raw  (desired on every device at ${s(delivered)}, rollout completed ${s(deployCompleted)}, ${last.downloads} artifact downloads)`,
  )

  t = performance.now()
  const rb = await c.rollouts.rollback({ rolloutId: r.id, toPrevious: true })
  const downloadsAfterDeploy = last.downloads
  await waitFor(() => last.active['1.0.0'] === n, { ...timeout, what: 'rollback' })
  const rollback = performance.now() - t
  await waitFor(async () => (await c.repo.get(rb.rollout?.id ?? '')).state === 'completed', timeout)
  const rollbackCompleted = performance.now() - t
  console.log(
    `  rollback --to-previous → every device back: ${s(rollback)}  ${(rollback / raw).toFixed(2)}× raw  (rollback completed ${s(rollbackCompleted)}, downloads during rollback: ${last.downloads - downloadsAfterDeploy})`,
  )

  fleet.send('stop')
  await once(fleet, 'exit')
  await c.close()
  await broker.close()
  const redis = redisClient()
  await deleteKeys(redis, prefix)
  await deleteKeys(redis, bullPrefix)
  await redis.quit()
  rmSync(storeDir, { recursive: true, force: true })
}

console.log(`bench/rollout on ${process.arch}, node ${process.version}; controller and aedes in this process, fake devices in a child`)
for (const n of sizes) {
  console.log(`\n${n} devices`)
  await run(n)
}
process.exit(0)
