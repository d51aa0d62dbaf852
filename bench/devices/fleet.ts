/** `simulate` at scale: connect time, memory per device and CPU at 1 Hz telemetry, against bare MQTT clients. */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import mqtt, { type MqttClient } from 'mqtt'
import { createSimulatedFleet, fleetDeviceIds } from '@liquid-edge/devices'
import { generateSigningKeys } from '@liquid-edge/package'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address() as AddressInfo
  await new Promise((r) => s.close(r))
  return port
}

/** A private Mosquitto, so that thousands of connections do not disturb anyone else's broker. */
export async function startMosquitto(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort()
  const child = spawn('mosquitto', ['-p', String(port)], { stdio: 'ignore' })
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1', () => {
        c.destroy()
        resolve(true)
      })
      c.on('error', () => {
        resolve(false)
      })
    })
    if (ok) return { url: `mqtt://127.0.0.1:${port}`, child }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('mosquitto did not start')
}

function memory(): { rss: number; heap: number } {
  gc()
  const m = process.memoryUsage()
  return { rss: m.rss, heap: m.heapUsed }
}

async function waitUntil(pred: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 20))
  }
}

async function cpuOver(ms: number): Promise<number> {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, ms))
  const c = process.cpuUsage(c0)
  return (c.user + c.system) / 1000 / (performance.now() - t0)
}

interface Result {
  connectMs: number
  rssPerDevice: number
  heapPerDevice: number
  cpu: number
}

/** Baseline: N bare MQTT.js clients, each publishing one 300-byte JSON message per second. */
async function bareClients(url: string, n: number, root: string, steadyMs: number): Promise<Result> {
  const before = memory()
  const t0 = performance.now()
  const clients: MqttClient[] = []
  const ids = fleetDeviceIds(n, 'bare')
  for (let i = 0; i < n; i += 64) {
    clients.push(...(await Promise.all(ids.slice(i, i + 64).map((id) => mqtt.connectAsync(url, { clientId: id, reconnectPeriod: 0 })))))
  }
  const connectMs = performance.now() - t0
  const payload = JSON.stringify({ v: 1, type: 'telemetry', body: { seq: 0, pad: 'x'.repeat(220) } })
  // Each client's interval starts at its own offset; both timers are kept so that every one is
  // cleared (an interval left running keeps the process alive after the bench).
  const timers: NodeJS.Timeout[] = []
  clients.forEach((c, i) => {
    const topic = `${root}/devices/${ids[i] ?? ''}/telemetry`
    timers.push(setTimeout(() => timers.push(setInterval(() => c.publish(topic, payload), 1000)), (i * 1000) / n))
  })
  await new Promise((r) => setTimeout(r, 1500))
  const cpu = await cpuOver(steadyMs)
  const after = memory()
  for (const t of timers) clearTimeout(t)
  await Promise.all(clients.map((c) => c.endAsync(true)))
  return { connectMs, rssPerDevice: (after.rss - before.rss) / n, heapPerDevice: (after.heap - before.heap) / n, cpu }
}

/** The simulated fleet: N real agents (timing model, 1 inference/s, 1 s telemetry windows, state in memory). */
async function fleetOf(url: string, n: number, root: string, steadyMs: number, sessions: 'mqtt.js' | 'lite'): Promise<Result> {
  const stateRoot = mkdtempSync(join(tmpdir(), 'lln-bench-fleet-'))
  const before = memory()
  const t0 = performance.now()
  const fleet = await createSimulatedFleet({
    ids: fleetDeviceIds(n, `bench-${sessions}`),
    sessions,
    connectsPerS: 2000,
    brokerUrl: url,
    root,
    profile: 'stm32h743',
    stateRoot,
    publisherKeys: [generateSigningKeys().publicKeyPem],
    ratePerS: 1,
    telemetryWindowMs: 1000,
    linkProxy: false,
    stateStore: 'memory',
    bufferOnDisk: false,
    startConcurrency: 128,
  })
  await waitUntil(() => fleet.stats().online === n, 120_000)
  const connectMs = performance.now() - t0
  await new Promise((r) => setTimeout(r, 1500))
  fleet.stats()
  const cpu = await cpuOver(steadyMs)
  const stats = fleet.stats()
  const after = memory()
  await fleet.close()
  rmSync(stateRoot, { recursive: true, force: true })
  if (stats.telemetryPerS < n * 0.8)
    console.log(`   (warning: only ${stats.telemetryPerS.toFixed(0)} telemetry windows/s for ${n} devices)`)
  return { connectMs, rssPerDevice: (after.rss - before.rss) / n, heapPerDevice: (after.heap - before.heap) / n, cpu }
}

const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`

export async function benchFleet(sizes: number[], steadyMs: number): Promise<void> {
  const broker = await startMosquitto()
  try {
    console.log(
      `\n-- simulate: N agents in one process vs N bare MQTT.js clients (private mosquitto ${broker.url}; CPU of this process over ${steadyMs / 1000} s) --`,
    )
    console.log('devices  what           connect      RSS/device    heap/device   CPU (cores)   telemetry')
    for (const n of sizes) {
      const root = `bench-${crypto.randomUUID().slice(0, 6)}/v1`
      const bare = await bareClients(broker.url, n, root, steadyMs)
      const sim = await fleetOf(broker.url, n, root, steadyMs, 'mqtt.js')
      const lite = await fleetOf(broker.url, n, root, steadyMs, 'lite')
      for (const [what, r] of [
        ['bare mqtt', bare],
        ['agent mqtt.js', sim],
        ['agent lite', lite],
      ] as const) {
        console.log(
          `${String(n).padStart(7)}  ${what.padEnd(13)}  ${(r.connectMs / 1000).toFixed(2).padStart(6)} s   ${kib(r.rssPerDevice).padStart(11)}   ${kib(r.heapPerDevice).padStart(11)}   ${r.cpu.toFixed(3).padStart(6)}        1 Hz`,
        )
      }
      for (const [what, r] of [
        ['agent mqtt.js', sim],
        ['agent lite', lite],
      ] as const)
        console.log(
          `         ratio ${what}/bare: connect ${(r.connectMs / bare.connectMs).toFixed(2)}×, RSS ${(r.rssPerDevice / bare.rssPerDevice).toFixed(2)}×, heap ${(r.heapPerDevice / bare.heapPerDevice).toFixed(2)}×, CPU ${(r.cpu / bare.cpu).toFixed(2)}×`,
        )
    }
  } finally {
    broker.child.kill('SIGTERM')
    await once(broker.child, 'exit')
  }
}
