/**
 * Broker throughput, in one run: our broker with every hook on (auth, ACL, validation, rate
 * limit, and the NATS bridge) beside bare aedes and the machine's Mosquitto (127.0.0.1:1883).
 * QoS 0 and QoS 1 publish throughput (1 publisher → 1 subscriber) and fan-out to 100 and 1,000
 * subscribers; ratios against bare aedes are printed. Goal: hooks cost ≤ 15% of bare aedes.
 * Each broker runs in a process of its own: besides deliveries per second (sensitive to whatever
 * else the machine runs), the broker process' CPU time per delivered message is read from /proc,
 * which is the steadier measure of what the hooks cost.
 * `npm run bench broker` (NATS at NATS_URL or 127.0.0.1:4222 for the bridge row; skipped if down).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { connect as natsConnect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { createTopics, deviceMessage, encode } from '@liquid-edge/protocol'

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
const MOSQUITTO_URL = process.env.MOSQUITTO_URL ?? 'mqtt://127.0.0.1:1883'
const ROUNDS = 3
const QOS0_MESSAGES = 8_000
const QOS1_MESSAGES = 4_000
const QOS1_WINDOW = 100
const FANOUT = [
  { subscribers: 100, messages: 50 },
  { subscribers: 1000, messages: 8 },
] as const

interface Target {
  name: string
  url: string
  /** The broker process, for its CPU time (undefined when not readable). */
  pid: number | undefined
  topic: string
  /** Options for a client of the given role and index. */
  client(role: 'pub' | 'sub', index: number): Promise<IClientOptions>
  close(): Promise<void>
}

const tag = crypto.randomUUID().slice(0, 8)
const root = `bench-${tag}/v1`
const topics = createTopics(root)
const DEVICE = `bench-dev-${tag}`
const TOPIC = topics.telemetry(DEVICE)

function payloads(n: number): Buffer[] {
  return Array.from({ length: n }, (_, seq) =>
    Buffer.from(
      encode(
        deviceMessage('telemetry', DEVICE, {
          seq,
          windowStart: 1_700_000_000_000 + seq * 1000,
          windowMs: 1000,
          model: { name: 'cfc-small', version: '2.0.0' },
          inferences: 100,
          errors: seq % 3,
          latencyMs: { p50: 0.4, p95: 0.9, p99: 1.3, max: 4.1 },
          energy: { avgMw: 210.5, perInferenceMj: 1.9 },
          temperatureC: 48,
          memory: { usedBytes: 48_000_000, totalBytes: 512_000_000 },
        }),
      ),
    ),
  )
}

async function connectAll(target: Target, role: 'pub' | 'sub', count: number): Promise<MqttClient[]> {
  const clients: MqttClient[] = []
  for (let start = 0; start < count; start += 50) {
    const batch = Array.from({ length: Math.min(50, count - start) }, async (_, i) =>
      mqtt.connectAsync(target.url, { reconnectPeriod: 0, ...(await target.client(role, start + i)) }),
    )
    clients.push(...(await Promise.all(batch)))
  }
  return clients
}

/** Publish `messages` once and wait until every subscriber has them all; deliveries per second. */
/** CPU time (user + system) of process `pid` in ms, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return Number.NaN
  }
}

interface Result {
  rate: number
  /** Broker CPU µs per delivered message. */
  cpuUs: number
  /** Raw figures, to average CPU over all rounds (/proc counts in 10 ms ticks). */
  cpuMs: number
  delivered: number
}

async function round(pub: MqttClient, subs: MqttClient[], target: Target, qos: 0 | 1, messages: Buffer[]): Promise<Result> {
  const topic = target.topic
  const cpuBefore = cpuMs(target.pid)
  const expected = subs.length * messages.length
  let received = 0
  let finish: () => void = () => undefined
  const done = new Promise<void>((resolve) => (finish = resolve))
  const onMessage = () => {
    if (++received === expected) finish()
  }
  for (const s of subs) s.on('message', onMessage)
  const started = performance.now()
  if (qos === 0) {
    for (const [i, m] of messages.entries()) {
      pub.publish(topic, m, { qos: 0 })
      if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve))
    }
  } else {
    let next = 0
    const worker = async () => {
      while (next < messages.length) await pub.publishAsync(topic, messages[next++] ?? Buffer.alloc(0), { qos: 1 })
    }
    await Promise.all(Array.from({ length: QOS1_WINDOW }, worker))
  }
  let timer: NodeJS.Timeout | undefined
  await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, 30_000)))])
  clearTimeout(timer)
  const seconds = (performance.now() - started) / 1000
  const cpu = cpuMs(target.pid) - cpuBefore
  for (const s of subs) s.off('message', onMessage)
  if (received < expected) console.log(`  ! ${received}/${expected} delivered before the deadline`)
  return { rate: received / seconds, cpuUs: (cpu * 1000) / Math.max(1, received), cpuMs: cpu, delivered: received }
}

/** Best of ROUNDS rounds (the machine is shared: the best round is the least disturbed one). */
async function run(target: Target, qos: 0 | 1, subscribers: number, messages: Buffer[]): Promise<Result> {
  const subs = await connectAll(target, 'sub', subscribers)
  await Promise.all(subs.map((s) => s.subscribeAsync(target.topic, { qos })))
  const [pub] = await connectAll(target, 'pub', 1)
  if (pub === undefined) throw new Error('no publisher')
  const best: Result = { rate: 0, cpuUs: 0, cpuMs: 0, delivered: 0 }
  for (let r = 0; r < ROUNDS; r++) {
    const result = await round(pub, subs, target, qos, messages)
    best.rate = Math.max(best.rate, result.rate)
    best.cpuMs += result.cpuMs
    best.delivered += result.delivered
  }
  best.cpuUs = (best.cpuMs * 1000) / Math.max(1, best.delivered)
  await Promise.all([...subs, pub].map((c) => c.endAsync(true)))
  return best
}

const MAX_SUBSCRIBERS = Math.max(...FANOUT.map((f) => f.subscribers))

/** Start `bench/broker/server.ts` in a child process and wait for its port. */
async function serverProcess(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    ['--conditions=@liquid-edge/source', '--import', 'tsx', join(import.meta.dirname, 'server.ts'), ...args],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => {
      reject(new Error(`bench server exited with ${code}`))
    })
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^READY (\d+)$/.exec(line)
      if (m) resolve(Number(m[1]))
    })
  })
  return { child, port }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

async function ours(name: string, bridge: boolean): Promise<Target> {
  const stream = `BENCH_${tag}_${bridge ? 'B' : 'N'}`
  const natsArgs = bridge ? [NATS_URL, stream, `bench${tag}`] : []
  const { child, port } = await serverProcess(['ours', root, DEVICE, String(MAX_SUBSCRIBERS), ...natsArgs])
  const login = (id: string) => Promise.resolve({ clientId: id, username: id, password: `secret-${id}` })
  return {
    name,
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid,
    topic: TOPIC,
    client: (role, i) => login(role === 'pub' ? DEVICE : `sub-${i}`),
    async close() {
      await stopProcess(child)
      if (!bridge) return
      const nc = await natsConnect({ servers: NATS_URL })
      await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false)
      await nc.close()
    },
  }
}

async function bareAedes(): Promise<Target> {
  const { child, port } = await serverProcess(['bare'])
  return {
    name: 'bare aedes',
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid,
    topic: TOPIC,
    client: (r, i) => Promise.resolve({ clientId: `${r}-${tag}-${i}` }),
    close: () => stopProcess(child),
  }
}

function mosquittoPid(): number | undefined {
  try {
    const pid = Number(execFileSync('pgrep', ['-x', 'mosquitto'], { encoding: 'utf8' }).split('\n')[0])
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

async function mosquitto(): Promise<Target | undefined> {
  try {
    const probe = await mqtt.connectAsync(MOSQUITTO_URL, { reconnectPeriod: 0, connectTimeout: 2000 })
    await probe.endAsync(true)
  } catch {
    console.log(`Mosquitto not reachable at ${MOSQUITTO_URL}; skipping it`)
    return undefined
  }
  return {
    name: 'mosquitto',
    url: MOSQUITTO_URL,
    pid: mosquittoPid(),
    topic: TOPIC,
    client: (r, i) => Promise.resolve({ clientId: `${r}-${tag}-${i}` }),
    close: () => Promise.resolve(),
  }
}

async function natsUp(): Promise<boolean> {
  try {
    await (await natsConnect({ servers: NATS_URL, timeout: 2000 })).close()
    return true
  } catch {
    return false
  }
}

const q0 = payloads(QOS0_MESSAGES)
const targets: Target[] = [await bareAedes(), await ours('ours (all hooks)', false)]
if (await natsUp()) targets.push(await ours('ours (all hooks + bridge)', true))
else console.log(`NATS not reachable at ${NATS_URL}; the bridge row is skipped`)
const mq = await mosquitto()
if (mq !== undefined) targets.push(mq)

const scenarios: { label: string; qos: 0 | 1; subscribers: number; messages: Buffer[] }[] = [
  { label: 'QoS 0, 1 → 1', qos: 0, subscribers: 1, messages: q0 },
  { label: 'QoS 1, 1 → 1', qos: 1, subscribers: 1, messages: q0.slice(0, QOS1_MESSAGES) },
  ...FANOUT.map((f) => ({
    label: `QoS 0, fan-out 1 → ${f.subscribers}`,
    qos: 0 as const,
    subscribers: f.subscribers,
    messages: q0.slice(0, f.messages),
  })),
]

console.log(
  `payload ${q0[0]?.length ?? 0} B (valid telemetry); deliveries per second (best of ${ROUNDS} rounds) and broker CPU per delivery (mean of the rounds); × = vs bare aedes\n`,
)
const started = performance.now()
const warmUp = targets[0]
if (warmUp !== undefined) await run(warmUp, 0, 1, q0.slice(0, 2000)) // JIT warm-up of the client side, not measured
for (const s of scenarios) {
  const results: [string, Result][] = []
  for (const t of targets) results.push([t.name, await run(t, s.qos, s.subscribers, s.messages)])
  const base = results[0]?.[1] ?? { rate: 1, cpuUs: 1, cpuMs: 0, delivered: 0 }
  console.log(s.label)
  for (const [name, r] of results) {
    const cpu = Number.isFinite(r.cpuUs) ? `${r.cpuUs.toFixed(1).padStart(6)} µs CPU/msg (×${(r.cpuUs / base.cpuUs).toFixed(2)})` : ''
    console.log(`  ${name.padEnd(26)} ${Math.round(r.rate).toString().padStart(7)} msg/s (×${(r.rate / base.rate).toFixed(2)})   ${cpu}`)
  }
}
for (const t of targets) await t.close()
console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s`)
