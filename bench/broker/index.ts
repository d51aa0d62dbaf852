/**
 * Broker throughput, in one run: our broker with every hook on (auth, ACL, validation, rate
 * limit, and the NATS bridge) beside bare aedes and the machine's Mosquitto (127.0.0.1:1883).
 * QoS 0 from 100 devices to 1 subscriber (the fleet's shape: many devices, one controller),
 * QoS 0 and QoS 1 from 1 publisher to 1 subscriber, and fan-out to 100 and 1,000 subscribers;
 * min / median / max of 3 rounds, and the median's ratio against bare aedes measured in the same
 * run. Goal: hooks cost ≤ 15% of bare aedes (≥ 0.85×).
 * Each broker runs in a process of its own: besides deliveries per second (sensitive to whatever
 * else the machine runs), the broker process' CPU time per delivered message is read from /proc,
 * which is the steadier measure of what the hooks cost.
 * `npm run bench broker` (NATS at NATS_URL or 127.0.0.1:4222 for the bridge row; skipped if down).
 * BENCH_BROKER_ONLY=<substring> runs only the scenarios whose label contains it;
 * BENCH_BROKER_CPU_PROF=<dir> writes a V8 CPU profile of each broker process there (node --cpu-prof).
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
/** Devices publishing at once in the many → 1 scenario, each on its own telemetry topic. */
const DEVICES = 100
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
  /** Options for a client of the given role and index. */
  client(role: 'pub' | 'sub', index: number): Promise<IClientOptions>
  close(): Promise<void>
}

const tag = crypto.randomUUID().slice(0, 8)
const root = `bench-${tag}/v1`
const topics = createTopics(root)
const DEVICE_PREFIX = `bench-dev-${tag}-`
const deviceId = (i: number): string => `${DEVICE_PREFIX}${i}`
/** What the single subscriber of the many → 1 scenario subscribes to (a consumer may read every device's telemetry). */
const ALL_TELEMETRY = topics.allDevices('telemetry')

function payloads(device: string, n: number): Buffer[] {
  return Array.from({ length: n }, (_, seq) =>
    Buffer.from(
      encode(
        deviceMessage('telemetry', device, {
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

interface Round {
  /** Deliveries per second. */
  rate: number
  /** Broker CPU ms spent in the round (/proc counts in 10 ms ticks). */
  cpuMs: number
  delivered: number
}

interface Result {
  /** Deliveries per second of each round, ascending. */
  rates: number[]
  /** Broker CPU µs per delivered message, over all rounds. */
  cpuUs: number
}

interface Scenario {
  label: string
  qos: 0 | 1
  /** Publishers; publisher i speaks for device i on its own telemetry topic. */
  publishers: number
  subscribers: number
  /** Messages each publisher sends per round. */
  messages: number
}

/** The payloads publisher `i` sends, built once (valid telemetry of its own device). */
const payloadCache = new Map<number, Buffer[]>()
function payloadsOf(i: number, n: number): Buffer[] {
  let cached = payloadCache.get(i)
  if (cached === undefined || cached.length < n) {
    cached = payloads(deviceId(i), n)
    payloadCache.set(i, cached)
  }
  return cached.slice(0, n)
}

/** Publish one round and wait until every subscriber has every message (or 30 s passed). */
async function round(pubs: MqttClient[], subs: MqttClient[], target: Target, s: Scenario): Promise<Round> {
  const cpuBefore = cpuMs(target.pid)
  const expected = subs.length * pubs.length * s.messages
  const sent = pubs.map((_, i) => payloadsOf(i, s.messages))
  let received = 0
  let finish: () => void = () => undefined
  const done = new Promise<void>((resolve) => (finish = resolve))
  const onMessage = () => {
    if (++received === expected) finish()
  }
  for (const sub of subs) sub.on('message', onMessage)
  const started = performance.now()
  if (s.qos === 0) {
    // Publishers take turns, one message each, yielding every 500 so the sockets drain.
    let n = 0
    for (let m = 0; m < s.messages; m++) {
      for (const [i, pub] of pubs.entries()) {
        pub.publish(topics.telemetry(deviceId(i)), sent[i]?.[m] ?? Buffer.alloc(0), { qos: 0 })
        if (++n % 500 === 0) await new Promise((resolve) => setImmediate(resolve))
      }
    }
  } else {
    await Promise.all(
      pubs.map(async (pub, i) => {
        let next = 0
        const worker = async () => {
          while (next < s.messages) await pub.publishAsync(topics.telemetry(deviceId(i)), sent[i]?.[next++] ?? Buffer.alloc(0), { qos: 1 })
        }
        await Promise.all(Array.from({ length: QOS1_WINDOW }, worker))
      }),
    )
  }
  let timer: NodeJS.Timeout | undefined
  await Promise.race([done, new Promise((resolve) => (timer = setTimeout(resolve, 30_000)))])
  clearTimeout(timer)
  const seconds = (performance.now() - started) / 1000
  const cpu = cpuMs(target.pid) - cpuBefore
  for (const sub of subs) sub.off('message', onMessage)
  if (received < expected) console.log(`  ! ${target.name}: ${received}/${expected} delivered before the deadline`)
  return { rate: received / seconds, cpuMs: cpu, delivered: received }
}

/** ROUNDS rounds of scenario `s` against `target`, over one set of connections. */
async function run(target: Target, s: Scenario): Promise<Result> {
  const subs = await connectAll(target, 'sub', s.subscribers)
  const filter = s.publishers === 1 ? topics.telemetry(deviceId(0)) : ALL_TELEMETRY
  await Promise.all(subs.map((sub) => sub.subscribeAsync(filter, { qos: s.qos })))
  const pubs = await connectAll(target, 'pub', s.publishers)
  const rounds: Round[] = []
  for (let r = 0; r < ROUNDS; r++) rounds.push(await round(pubs, subs, target, s))
  await Promise.all([...subs, ...pubs].map((c) => c.endAsync(true)))
  const cpu = rounds.reduce((sum, r) => sum + r.cpuMs, 0)
  const delivered = rounds.reduce((sum, r) => sum + r.delivered, 0)
  return { rates: rounds.map((r) => r.rate).sort((a, b) => a - b), cpuUs: (cpu * 1000) / Math.max(1, delivered) }
}

const median = (sorted: number[]): number => sorted[Math.floor(sorted.length / 2)] ?? Number.NaN

/** Start `bench/broker/server.ts` in a child process and wait for its port; `label` names its CPU profile's directory. */
async function serverProcess(label: string, args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const profile = process.env.BENCH_BROKER_CPU_PROF
  const child = spawn(
    process.execPath,
    [
      // One directory per broker: the main thread's profile and the module loader thread's land there.
      ...(profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(profile, label)}`]),
      '--conditions=@liquid-edge/source',
      '--import',
      'tsx',
      join(import.meta.dirname, 'server.ts'),
      ...args,
    ],
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
  const subscribers = Math.max(...SCENARIOS.map((s) => s.subscribers))
  const devices = Math.max(...SCENARIOS.map((s) => s.publishers))
  const { child, port } = await serverProcess(bridge ? 'ours-bridge' : 'ours', [
    'ours',
    root,
    DEVICE_PREFIX,
    String(devices),
    String(subscribers),
    ...natsArgs,
  ])
  const login = (id: string) => Promise.resolve({ clientId: id, username: id, password: `secret-${id}` })
  return {
    name,
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid,
    client: (role, i) => login(role === 'pub' ? deviceId(i) : `sub-${i}`),
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
  const { child, port } = await serverProcess('bare', ['bare'])
  return {
    name: 'bare aedes',
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid,
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

const ONLY = process.env.BENCH_BROKER_ONLY
const ALL_SCENARIOS: Scenario[] = [
  { label: `QoS 0, ${DEVICES} → 1`, qos: 0, publishers: DEVICES, subscribers: 1, messages: QOS0_MESSAGES / DEVICES },
  { label: 'QoS 0, 1 → 1', qos: 0, publishers: 1, subscribers: 1, messages: QOS0_MESSAGES },
  { label: 'QoS 1, 1 → 1', qos: 1, publishers: 1, subscribers: 1, messages: QOS1_MESSAGES },
  ...FANOUT.map((f) => ({
    label: `QoS 0, fan-out 1 → ${f.subscribers}`,
    qos: 0 as const,
    publishers: 1,
    subscribers: f.subscribers,
    messages: f.messages,
  })),
]
const SCENARIOS = ALL_SCENARIOS.filter((s) => ONLY === undefined || s.label.includes(ONLY))
if (SCENARIOS.length === 0) throw new Error(`no scenario label contains '${ONLY ?? ''}'`)

const targets: Target[] = [await bareAedes(), await ours('ours (all hooks)', false)]
if (await natsUp()) targets.push(await ours('ours (all hooks + bridge)', true))
else console.log(`NATS not reachable at ${NATS_URL}; the bridge row is skipped`)
const mq = await mosquitto()
if (mq !== undefined) targets.push(mq)

console.log(
  `payload ${payloadsOf(0, 1)[0]?.length ?? 0} B (valid telemetry); deliveries per second, min / median / max of ${ROUNDS} rounds, ` +
    `and broker CPU per delivery over the rounds; × = median (or CPU) vs bare aedes in this run\n`,
)
const started = performance.now()
const warmUp = targets[0]
// JIT warm-up of the client side, not measured.
if (warmUp !== undefined) await run(warmUp, { label: 'warm-up', qos: 0, publishers: 1, subscribers: 1, messages: 2000 })
const k = (rate: number): string => `${(rate / 1000).toFixed(1)}k`
for (const s of SCENARIOS) {
  const results: [string, Result][] = []
  for (const t of targets) results.push([t.name, await run(t, s)])
  const base = results[0]?.[1] ?? { rates: [1], cpuUs: 1 }
  console.log(s.label)
  for (const [name, r] of results) {
    const [min = 0, max = 0] = [r.rates[0], r.rates[r.rates.length - 1]]
    const rates = `${k(min)} / ${k(median(r.rates))} / ${k(max)} msg/s`.padStart(28)
    const cpu = Number.isFinite(r.cpuUs) ? `${r.cpuUs.toFixed(1).padStart(6)} µs CPU/msg (×${(r.cpuUs / base.cpuUs).toFixed(2)})` : ''
    console.log(`  ${name.padEnd(26)} ${rates} (×${(median(r.rates) / median(base.rates)).toFixed(2)})   ${cpu}`)
  }
}
for (const t of targets) await t.close()
console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s`)
