/**
 * bench/cluster: deploy → every device reports the new model active, for the same fleet on a
 * 3-node NATS cluster with MQTT on each node (streams replicated on all three) and beside it on the
 * embedded broker (one `liquid-broker` process, devices authenticated), in one run.
 *
 * Controller: in this process, default settings, on the shared Redis under its own prefix, given
 * every node as one comma-separated list. Devices: real agents on MQTT.js sessions (device i from
 * node i mod n, as `liquid-agent simulate` spreads them) in a child process, x86-edge profile,
 * state in memory, real downloads and package checks. Three deploys per broker (1.0.0 first install,
 * then 1.1.0, then 2.0.0), min/median/max. Named setting: trial 0 s (the default 60 s would measure
 * the policy). A deploy that does not reach every device within its deadline is reported with the
 * phases and per-node connections it stalled at, not dropped.
 *
 *   npm run bench cluster                  # 1,000 devices
 *   BENCH_SIZES=100 npm run bench cluster
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createPublicKey } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { RedisCredentialStore, provisionCredential } from '@liquid-edge/broker'
import { createController } from '@liquid-edge/controller'
import { fleetDeviceIds, writeDemoPackages } from '@liquid-edge/devices'
import { controllerSpace } from '@liquid-edge/test/controller'
import { TEST_SCRYPT_PARAMS, freePort, startNatsCluster, startRedisServer, uniqueRoot, waitFor } from '@liquid-edge/test/harness'
import { startService, waitForHttp } from '../../test/sandbox/processes.js'
import type { FleetCounts } from '../rollout/fleet.js'
import { showSpread, spread } from '../lib/samples.js'

const VERSIONS = ['1.0.0', '1.1.0', '2.0.0'] as const
const sizes = (process.env.BENCH_SIZES ?? '1000').split(',').map(Number)
const fleetScript = join(import.meta.dirname, '..', 'rollout', 'fleet.ts')

interface Target {
  name: string
  urls: string[]
  /** Per-node MQTT connections now, for a stall report. */
  connections(): Promise<Record<string, number>>
  /** Controller login and the devices' `id:secret` file, when the broker authenticates. */
  auth?: { username: string; password: string; file: string }
  close(): Promise<void>
}

async function natsTarget(): Promise<Target> {
  const cluster = await startNatsCluster()
  return {
    name: 'NATS 3-node cluster (MQTT)',
    urls: [...cluster.mqttUrls],
    connections: async () =>
      Object.fromEntries(await Promise.all(cluster.nodes.map(async (n) => [n.name, (await n.mqttClients()).length] as const))),
    close: () => cluster.close(),
  }
}

async function embeddedTarget(ids: readonly string[], dir: string, root: string): Promise<Target> {
  // A Redis of its own for the credentials: the machine's is shared.
  const redisServer = await startRedisServer()
  const redis = new Redis(redisServer.url)
  const store = new RedisCredentialStore({ redis, prefix: 'bench' })
  const lines: string[] = []
  for (const id of ids)
    lines.push(`${id}:${(await provisionCredential(store, { id, role: 'device', children: [] }, { params: TEST_SCRYPT_PARAMS })).secret}`)
  const ctl = await provisionCredential(store, { id: 'bench-controller', role: 'controller', children: [] }, { params: TEST_SCRYPT_PARAMS })
  await store.close()
  redis.disconnect()
  const file = join(dir, 'credentials.txt')
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 })
  const [mqtt, http] = [await freePort(), await freePort()]
  const service = startService(
    'broker',
    'liquid-broker',
    ['--host', '127.0.0.1', '--root', root, '--mqtt-port', String(mqtt), '--http-port', String(http)].concat(
      ['--credentials-store', 'redis', '--redis-url', redisServer.url, '--credentials-prefix', 'bench'],
      // One address for every device: the per-address login limit is for the field.
      ['--login-failures-per-address', '0'],
    ),
    { env: { LLN_LOG_LEVEL: 'warn' }, logDir: join(dir, 'logs'), cwd: dir },
  )
  await waitForHttp(`http://127.0.0.1:${http}/health`, service, 240_000)
  return {
    name: 'embedded broker (liquid-broker, 1 node)',
    urls: [`mqtt://127.0.0.1:${mqtt}`],
    connections: async () => {
      const text = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text()
      const lines = text.split('\n').filter((l) => l.startsWith('lln_broker_clients_connected{'))
      return { broker: lines.reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0) }
    },
    auth: { username: 'bench-controller', password: ctl.secret, file },
    close: async () => {
      await service.stop()
      await redisServer[Symbol.asyncDispose]()
    },
  }
}

interface Devices {
  child: ChildProcess
  last: () => FleetCounts
  stop(): Promise<void>
}

async function startDevices(target: Target, root: string, key: string, n: number): Promise<Devices> {
  const child = fork(fleetScript, [], {
    execArgv: ['--conditions=@liquid-edge/source', '--import', 'tsx', '--max-old-space-size=4096'],
    env: {
      ...process.env,
      BENCH_MODE: 'agents',
      BENCH_SESSIONS: 'mqtt.js',
      BENCH_URL: target.urls.join(','),
      BENCH_ROOT: root,
      BENCH_KEY: key,
      BENCH_N: String(n),
      BENCH_PREFIX: 'b',
      ...(target.auth === undefined ? {} : { BENCH_PASSWORDS_FILE: target.auth.file }),
    },
  })
  let last: FleetCounts = { online: 0, active: {}, phases: {}, received: 0 }
  child.on('message', (m) => (last = m as FleetCounts))
  const t0 = performance.now()
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`the device process exited with ${child.exitCode}`)
      return last.online === n
    },
    { timeoutMs: 300_000 + n * 100, intervalMs: 100, what: `${n} agents connected` },
  ).catch(async (err: unknown) => {
    throw new Error(`${String(err)}: ${last.online} online; connections ${JSON.stringify(await target.connections())}`)
  })
  console.log(
    `    ${n} agents connected in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(await target.connections())}`,
  )
  return {
    child,
    last: () => last,
    async stop() {
      child.send('stop')
      await once(child, 'exit')
    },
  }
}

/** Three deploys → all active on one broker; the times, or what a stalled deploy stood at. */
async function measure(target: Target, root: string, n: number, models: string, publicKeyPem: string): Promise<number[]> {
  const space = controllerSpace('bench-cluster', root)
  const c = await createController({
    config: space.config(target.urls.join(','), {
      logLevel: 'silent',
      ...(target.auth === undefined ? {} : { mqttUsername: target.auth.username, mqttPassword: target.auth.password }),
    }),
    publisherKeys: [createPublicKey(publicKeyPem)],
  })
  const times: number[] = []
  let devices: Devices | undefined
  try {
    for (const v of VERSIONS) await c.models.push(readFileSync(join(models, `cfc-sense-${v}.liquid`)))
    await c.registry.addMany(fleetDeviceIds(n, 'b').map((id) => ({ id, labels: { env: 'bench' } })))
    devices = await startDevices(target, space.root, publicKeyPem, n)
    const d = devices
    for (const version of VERSIONS) {
      const t0 = performance.now()
      const r = await c.rollouts.deploy({
        model: { name: 'cfc-sense', version },
        target: 'env=bench',
        strategy: 'all',
        policy: { trialMs: 0 },
      })
      await waitFor(() => d.last().active[version] === n, {
        timeoutMs: 180_000 + n * 60,
        intervalMs: 25,
        what: `${version} active on ${n} devices`,
      }).catch(async (err: unknown) => {
        const l = d.last()
        throw new Error(
          `${String(err)}: ${l.active[version] ?? 0}/${n} active, ${l.online} online, phases ${JSON.stringify(l.phases)}, ` +
            `connections ${JSON.stringify(await target.connections())}`,
        )
      })
      times.push(performance.now() - t0)
      console.log(`    deploy ${version} → all ${n} active in ${((times.at(-1) ?? 0) / 1000).toFixed(2)} s`)
      // The next deploy may start once this rollout has completed (a device is in one rollout at a time).
      await waitFor(async () => (await c.repo.get(r.id)).state === 'completed', {
        timeoutMs: 300_000,
        intervalMs: 100,
        what: `the ${version} rollout completed`,
      })
    }
  } finally {
    await devices?.stop()
    await c.close()
    await space.clean()
  }
  return times
}

const dir = mkdtempSync(join(tmpdir(), 'lln-bench-cluster-'))
const demo = await writeDemoPackages(join(dir, 'models'), join(dir, 'publisher.pem'), { profile: 'x86-edge', ratePerS: 0.2 })
console.log(`bench/cluster on ${process.arch}, node ${process.version}`)
let failed = false
for (const n of sizes) {
  console.log(`\n${n} devices`)
  const results: { name: string; times: number[] | string }[] = []
  for (const start of [(root: string) => embeddedTarget(fleetDeviceIds(n, 'b'), dir, root), natsTarget]) {
    const root = uniqueRoot()
    const target = await start(root)
    console.log(`  ${target.name}: ${target.urls.join(',')}`)
    try {
      results.push({ name: target.name, times: await measure(target, root, n, join(dir, 'models'), demo.publicKeyPem) })
    } catch (err) {
      failed = true
      console.log(`    FAILED: ${err instanceof Error ? err.message : String(err)}`)
      results.push({ name: target.name, times: err instanceof Error ? err.message : String(err) })
    } finally {
      await target.close()
    }
  }
  console.log(`  deploy → all ${n} active (real downloads), min / median / max of ${VERSIONS.length}, seconds:`)
  for (const r of results)
    console.log(
      `    ${r.name.padEnd(42)} ${typeof r.times === 'string' ? 'did not finish' : showSpread(spread(r.times.map((t) => t / 1000)), 2)}`,
    )
}
rmSync(dir, { recursive: true, force: true })
process.exit(failed ? 1 : 0)
