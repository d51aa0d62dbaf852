/**
 * bench/rollout: deploy → every device reports the new model active, beside a raw retained fan-out
 * of the same payload size to the same number of sessions, on the same broker in the same run.
 *
 * Broker: a private Mosquitto. Controller: in this process, default settings (tick, dispatch,
 * rules), on the shared Redis under its own prefix. Devices: real agents on light MQTT sessions in
 * a child process (x86-edge profile, state in memory, 10 s telemetry windows, 0.2 inferences/s),
 * which download each package from the controller's artifact server and check its sha256 and
 * signature. Three deploys per size (1.0.0 first install, then 1.1.0, then 2.0.0: a download
 * every time) and three raw fan-outs, min/median/max. Named setting: trial 0 s (the default 60 s
 * trial would add a minute to every figure and measure the policy, not the system).
 *
 *   npm run bench rollout                         # 1,000 and 10,000 devices
 *   BENCH_SIZES=1000 npm run bench rollout
 *   BENCH_ROLLOUT_100K=1 npm run bench rollout    # adds 100,000 (needs ~100k open files per process)
 */
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createPublicKey } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import { openFileLimit, startMosquitto, waitFor } from '@liquid-edge/test/harness'
import { controllerSpace } from '@liquid-edge/test/controller'
import { createController, type Controller } from '@liquid-edge/controller'
import { fleetDeviceIds, writeDemoPackages } from '@liquid-edge/devices'
import type { FleetCounts } from './fleet.js'

const here = dirname(fileURLToPath(import.meta.url))
const SAMPLES = 3
const VERSIONS = ['1.0.0', '1.1.0', '2.0.0'] as const
const sizes = (process.env.BENCH_SIZES ?? '1000,10000')
  .split(',')
  .map(Number)
  .concat(process.env.BENCH_ROLLOUT_100K === '1' ? [100_000] : [])
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const stats = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return { min: sorted[0] ?? NaN, median: sorted[Math.floor(sorted.length / 2)] ?? NaN, max: sorted.at(-1) ?? NaN }
}
const triple = (xs: number[]) => {
  const t = stats(xs)
  return `${s(t.min)} / ${s(t.median)} / ${s(t.max)}`
}

interface Devices {
  child: ChildProcess
  last: () => FleetCounts
  stop(): Promise<void>
}

/** Start the device process and wait until all `n` sessions are connected. */
async function startDevices(mode: 'agents' | 'raw', env: Record<string, string>, n: number): Promise<Devices> {
  const child = fork(join(here, 'fleet.ts'), [], {
    execArgv: ['--conditions=@liquid-edge/source', '--import', 'tsx', '--max-old-space-size=8192'],
    env: { ...process.env, ...env, BENCH_MODE: mode, BENCH_N: String(n) },
  })
  let last: FleetCounts = { online: 0, active: {}, phases: {}, received: 0 }
  child.on('message', (m) => (last = m as FleetCounts))
  const t0 = performance.now()
  let shown = 0
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`the ${mode} process exited with ${child.exitCode}`)
      if (performance.now() - shown > 5000) {
        shown = performance.now()
        process.stdout.write(`    … ${last.online}/${n} ${mode === 'raw' ? 'bare sessions' : 'agents'} connected\n`)
      }
      return last.online === n
    },
    { timeoutMs: 60_000 + n * 30, intervalMs: 100, what: `${n} ${mode} sessions connected` },
  )
  console.log(`    ${n} ${mode === 'raw' ? 'bare sessions' : 'agents'} connected in ${s(performance.now() - t0)}`)
  return {
    child,
    last: () => last,
    async stop() {
      child.send('stop')
      await once(child, 'exit')
    },
  }
}

async function deploys(
  c: Controller,
  devices: Devices,
  n: number,
  observer: mqtt.MqttClient,
  probeTopic: string,
): Promise<{ times: number[]; completed: number[]; desiredBytes: number }> {
  let desiredBytes = 0
  observer.on('message', (topic, payload) => {
    if (topic === probeTopic && payload.byteLength > 0) desiredBytes = payload.byteLength
  })
  await observer.subscribeAsync(probeTopic, { qos: 1 })
  const times: number[] = []
  const completed: number[] = []
  for (const version of VERSIONS) {
    const t0 = performance.now()
    const r = await c.rollouts.deploy({
      model: { name: 'cfc-sense', version },
      target: 'env=bench',
      strategy: 'all',
      policy: { trialMs: 0 },
    })
    let shown = t0
    await waitFor(
      () => {
        if (performance.now() - shown > 5000) {
          shown = performance.now()
          const phases = Object.entries(devices.last().phases)
            .map(([p, k]) => `${p} ${k}`)
            .join(', ')
          process.stdout.write(`    … ${version}: ${devices.last().active[version] ?? 0}/${n} active (${phases})\n`)
        }
        return devices.last().active[version] === n
      },
      { timeoutMs: 120_000 + n * 60, intervalMs: 25, what: `${version} active on ${n} devices` },
    )
    times.push(performance.now() - t0)
    await waitFor(async () => (await c.repo.get(r.id)).state === 'completed', {
      timeoutMs: 300_000,
      intervalMs: 100,
      what: 'rollout completed',
    })
    completed.push(performance.now() - t0)
    console.log(`    deploy ${version} → all ${n} active in ${s(times.at(-1) ?? 0)} (rollout completed at ${s(completed.at(-1) ?? 0)})`)
  }
  return { times, completed, desiredBytes }
}

/** N retained QoS 1 messages of `bytes` each, one per device topic, from one client; until every session has its own. */
async function rawFanOut(url: string, root: string, ids: readonly string[], devices: Devices, bytes: number): Promise<number[]> {
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
  const payload = Buffer.alloc(bytes, 'x')
  const times: number[] = []
  try {
    for (let sample = 1; sample <= SAMPLES; sample++) {
      const before = devices.last().received
      const t0 = performance.now()
      for (let i = 0; i < ids.length; i += 1000)
        await Promise.all(
          ids.slice(i, i + 1000).map((id) => pub.publishAsync(`${root}/devices/${id}/desired`, payload, { qos: 1, retain: true })),
        )
      await waitFor(() => devices.last().received - before >= ids.length, { timeoutMs: 600_000, intervalMs: 25, what: 'raw fan-out' })
      times.push(performance.now() - t0)
      console.log(`    raw fan-out ${sample}: ${ids.length} × ${bytes} B retained in ${s(times.at(-1) ?? 0)}`)
    }
    for (let i = 0; i < ids.length; i += 1000)
      await Promise.all(ids.slice(i, i + 1000).map((id) => pub.publishAsync(`${root}/devices/${id}/desired`, '', { qos: 1, retain: true })))
  } finally {
    await pub.endAsync()
  }
  return times
}

async function run(n: number, models: string, publicKeyPem: string): Promise<void> {
  await using broker = await startMosquitto()
  const space = controllerSpace('bench')
  const { root } = space
  const c = await createController({
    config: space.config(broker.url, { logLevel: 'silent' }),
    publisherKeys: [createPublicKey(publicKeyPem)],
  })
  const observer = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })
  try {
    for (const v of VERSIONS) await c.models.push(readFileSync(join(models, `cfc-sense-${v}.liquid`)))
    const ids = fleetDeviceIds(n, 'b')
    await c.registry.addMany(ids.map((id) => ({ id, labels: { env: 'bench' } })))
    const env = { BENCH_URL: broker.url, BENCH_ROOT: root, BENCH_KEY: publicKeyPem }
    const agents = await startDevices('agents', { ...env, BENCH_PREFIX: 'b' }, n)
    const deployed = await deploys(c, agents, n, observer, `${root}/devices/${ids[0] ?? ''}/desired`).finally(() => agents.stop())
    const rawIds = fleetDeviceIds(n, 'raw')
    const raw = await startDevices('raw', { ...env, BENCH_PREFIX: 'raw' }, n)
    const fanOut = await rawFanOut(broker.url, root, rawIds, raw, deployed.desiredBytes).finally(() => raw.stop())
    const d = stats(deployed.times)
    const f = stats(fanOut)
    console.log(`  ${n} devices, Mosquitto ${broker.url}, min / median / max of ${SAMPLES}:`)
    console.log(`    raw retained fan-out (${deployed.desiredBytes} B each):   ${triple(fanOut)}  (baseline)`)
    console.log(
      `    deploy → all active (real downloads): ${triple(deployed.times)}  median ${(d.median / f.median).toFixed(1)}× raw (best ${(d.min / f.max).toFixed(1)}×, worst ${(d.max / f.min).toFixed(1)}×)`,
    )
    console.log(`    deploy → rollout completed:           ${triple(deployed.completed)}`)
  } finally {
    await observer.endAsync(true)
    await c.close()
    await space.clean()
  }
}

const limit = openFileLimit()
const dir = mkdtempSync(join(tmpdir(), 'lln-bench-models-'))
const demo = await writeDemoPackages(join(dir, 'models'), join(dir, 'publisher.pem'), { profile: 'x86-edge', ratePerS: 0.2 })
console.log(`bench/rollout on ${process.arch}, node ${process.version}; open files allowed per process: ${limit ?? 'unknown'}`)
for (const n of sizes) {
  console.log(`\n${n} devices`)
  // Mosquitto and the device process each hold one socket per device.
  if (limit !== null && n + 1000 > limit) {
    console.log(`  skipped: ${n} sessions need about ${n + 1000} open files per process; this shell allows ${limit} (raise ulimit -n)`)
    continue
  }
  await run(n, join(dir, 'models'), demo.publicKeyPem)
}
rmSync(dir, { recursive: true, force: true })
process.exit(0)
