/**
 * Broker throughput, in one run: our broker with every hook on (auth, ACL, validation, rate
 * limit, and the NATS bridge) beside bare aedes and the machine's Mosquitto (127.0.0.1:1883).
 * QoS 0 and QoS 1 publish throughput (1 publisher → 1 subscriber) and fan-out to 100 and 1,000
 * subscribers; ratios against bare aedes are printed. Goal: hooks cost ≤ 15% of bare aedes.
 * `npm run bench broker` (NATS at NATS_URL or 127.0.0.1:4222 for the bridge row; skipped if down).
 */
import { connect as natsConnect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { MemoryCredentialStore, createBroker, type BrokerConfigInput } from '@liquid-edge/broker'
import { createTopics, deviceMessage, encode } from '@liquid-edge/protocol'
import { provisionTestCredential, startPlainBroker } from '@liquid-edge/test/harness'

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222'
const MOSQUITTO_URL = process.env.MOSQUITTO_URL ?? 'mqtt://127.0.0.1:1883'
const ROUNDS = 3
const QOS0_MESSAGES = 5_000
const QOS1_MESSAGES = 2_000
const QOS1_WINDOW = 100
const FANOUT = [
  { subscribers: 100, messages: 50 },
  { subscribers: 1000, messages: 8 },
] as const
// Credentials use the harness' cheap scrypt parameters (TEST_SCRYPT_PARAMS) so 1,000 logins stay fast.

interface Target {
  name: string
  url: string
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
async function round(pub: MqttClient, subs: MqttClient[], topic: string, qos: 0 | 1, messages: Buffer[]): Promise<number> {
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
  for (const s of subs) s.off('message', onMessage)
  if (received < expected) console.log(`  ! ${received}/${expected} delivered before the deadline`)
  return received / seconds
}

/** Best of ROUNDS rounds (the machine is shared: the best round is the least disturbed one). */
async function run(target: Target, qos: 0 | 1, subscribers: number, messages: Buffer[]): Promise<number> {
  const subs = await connectAll(target, 'sub', subscribers)
  await Promise.all(subs.map((s) => s.subscribeAsync(target.topic, { qos })))
  const [pub] = await connectAll(target, 'pub', 1)
  if (pub === undefined) throw new Error('no publisher')
  let best = 0
  for (let r = 0; r < ROUNDS; r++) best = Math.max(best, await round(pub, subs, target.topic, qos, messages))
  await Promise.all([...subs, pub].map((c) => c.endAsync(true)))
  return best
}

async function ours(name: string, bridge: boolean): Promise<Target> {
  const credentials = new MemoryCredentialStore()
  const stream = `BENCH_${tag}_${bridge ? 'B' : 'N'}`
  const config: BrokerConfigInput = {
    root,
    host: '127.0.0.1',
    tcp: { port: 0 },
    http: { enabled: false },
    limits: { publishRatePerSec: 1e6, publishBurst: 1e6 },
    ...(bridge ? { nats: { url: NATS_URL, stream, subjectPrefix: `bench${tag}`, storage: 'memory' as const } } : {}),
  }
  const broker = await createBroker({ credentials, config })
  const secrets = new Map<string, string>()
  const login = async (id: string, role: 'device' | 'consumer') => {
    let secret = secrets.get(id)
    if (secret === undefined) {
      secret = await provisionTestCredential(credentials, id, role)
      secrets.set(id, secret)
    }
    return { clientId: id, username: id, password: secret }
  }
  if (bridge) {
    const deadline = Date.now() + 5000
    while (broker.bridgeState !== 'connected' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  }
  return {
    name,
    url: `mqtt://127.0.0.1:${broker.ports.tcp ?? 0}`,
    topic: TOPIC,
    client: (role, i) => (role === 'pub' ? login(DEVICE, 'device') : login(`bench-sub-${tag}-${i}`, 'consumer')),
    async close() {
      await broker.close()
      if (!bridge) return
      const nc = await natsConnect({ servers: NATS_URL })
      await (await jetstreamManager(nc)).streams.delete(stream).catch(() => false)
      await nc.close()
    },
  }
}

async function bareAedes(): Promise<Target> {
  const plain = await startPlainBroker()
  return {
    name: 'bare aedes',
    url: plain.url,
    topic: TOPIC,
    client: (r, i) => Promise.resolve({ clientId: `${r}-${tag}-${i}` }),
    close: () => plain.close(),
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
  `payload ${q0[0]?.length ?? 0} B (valid telemetry); figures are deliveries per second, best of ${ROUNDS} rounds; ratio = vs bare aedes\n`,
)
const started = performance.now()
const warmUp = targets[0]
if (warmUp !== undefined) await run(warmUp, 0, 1, q0.slice(0, 2000)) // JIT warm-up of the client side, not measured
for (const s of scenarios) {
  const rates: [string, number][] = []
  for (const t of targets) rates.push([t.name, await run(t, s.qos, s.subscribers, s.messages)])
  const base = rates[0]?.[1] ?? 1
  console.log(s.label)
  for (const [name, rate] of rates)
    console.log(`  ${name.padEnd(28)} ${Math.round(rate).toString().padStart(8)} msg/s   ratio ${(rate / base).toFixed(2)}`)
}
for (const t of targets) await t.close()
console.log(`\ntotal ${((performance.now() - started) / 1000).toFixed(1)} s`)
