/**
 * A light simulated fleet for benches, in a process of its own: N devices over a few MQTT
 * connections (as gateways would), each with a retained status and reported state. A desired state
 * is installed at once (no download: benches that measure the controller's ingest and decisions
 * must not wait on artifacts); a rollback command swaps to the previous slot. Telemetry windows carry
 * the mergeable statistics a current agent sends. The parent drives it through `serveParent`:
 * `burst` (every device N times, as fast as the connections take it), `steady` (every device once
 * per `windowMs`, spread evenly), `stop`, `fault` (errors per window for a model version) and `counts`.
 *
 * Env: BENCH_URL, BENCH_ROOT, BENCH_N, BENCH_CONNECTIONS (default 20), BENCH_MODEL (JSON slot model
 * every device runs at start), BENCH_HARDWARE (default x86-edge), BENCH_ID_PREFIX (default d-).
 */
import mqtt, { type MqttClient } from 'mqtt'
import {
  addLatency,
  createCodec,
  deviceMessage,
  emptyLatency,
  latencyStats,
  type Slot,
  type TelemetryBodyInput,
} from '@liquid-edge/protocol'
import { serveParent } from './child.js'

type Model = Slot['model']
interface Device {
  id: string
  seq: number
  generation: number
  rolloutId: string | null
  phase: 'active' | 'reverted' | 'idle'
  active: Model | null
  previous: Model | null
  /** Client index: the connection it speaks through. */
  via: number
}

const env = process.env
const n = Number(env.BENCH_N ?? 0)
const connections = Number(env.BENCH_CONNECTIONS ?? 20)
const hardware = env.BENCH_HARDWARE ?? 'x86-edge'
const initial = JSON.parse(env.BENCH_MODEL ?? 'null') as Model | null
const prefix = env.BENCH_ID_PREFIX ?? 'd-'
const codec = createCodec({ root: env.BENCH_ROOT ?? 'lln/v1' })
const t = codec.topics

const clients: MqttClient[] = await Promise.all(
  Array.from({ length: connections }, (_, i) =>
    mqtt.connectAsync(env.BENCH_URL ?? '', { clientId: `bench-fleet-${process.pid}-${i}`, reconnectPeriod: 0 }),
  ),
)
const devices: Device[] = Array.from({ length: n }, (_, i) => ({
  id: `${prefix}${i}`,
  seq: 0,
  generation: 0,
  rolloutId: null,
  phase: initial === null ? 'idle' : 'active',
  active: initial,
  previous: null,
  via: i % connections,
}))
const byId = new Map(devices.map((d) => [d.id, d]))
/** Failed inferences per window, by model version (set by `fault`). */
const faults = new Map<string, number>()
const counters = { desired: 0, commands: 0, reported: 0 }

function publish(d: Device, kind: 'status' | 'reported' | 'reply', body: unknown, qos: 0 | 1, retain: boolean): Promise<void> {
  const topic = kind === 'status' ? t.status(d.id) : kind === 'reported' ? t.reported(d.id) : t.reply(d.id)
  const payload = JSON.stringify(deviceMessage(kind, d.id, body as never))
  const client = clients[d.via]
  return new Promise((resolve) => {
    if (client === undefined) resolve()
    else
      client.publish(topic, payload, { qos, retain }, () => {
        resolve()
      })
  })
}

function slots(d: Device): Slot[] {
  const out: Slot[] = []
  if (d.active !== null) out.push({ slot: 'a', role: 'active', model: d.active })
  if (d.previous !== null) out.push({ slot: 'b', role: 'previous', model: d.previous })
  return out
}

function report(d: Device): Promise<void> {
  counters.reported++
  const body = {
    generation: d.generation,
    rolloutId: d.rolloutId,
    phase: d.phase,
    slots: slots(d),
    error: null,
    agentVersion: 'bench-1',
    hardware,
  }
  return publish(d, 'reported', body, 1, true)
}

// One latency sample set for every window: the controller folds the same histogram shape a real agent sends.
const latency = emptyLatency()
for (let k = 0; k < 20; k++) addLatency(latency, 3 + (k % 7) * 0.5)
const latencyBody = latencyStats(latency)

function telemetry(d: Device, windowMs: number): string {
  const errors = d.active === null ? 0 : Math.min(20, faults.get(d.active.version) ?? 0)
  const body: TelemetryBodyInput = {
    seq: d.seq++,
    windowStart: Date.now() - windowMs,
    windowMs,
    model: d.active === null ? null : { name: d.active.name, version: d.active.version },
    inferences: 20,
    errors,
    latency: latencyBody,
    latencyMs: { p50: 4, p95: 6, p99: 6, max: 6 },
    energy: { avgMw: 50, joules: (50 * windowMs) / 1e6, measuredMs: windowMs, perInferenceMj: null },
    temperatureC: 40,
    memory: { usedBytes: 100_000, totalBytes: 1_000_000 },
    hardware,
    dropped: 0,
  }
  return JSON.stringify(deviceMessage('telemetry', d.id, body))
}

/** Publish one window for each of `list`, QoS 0; resolves when every one is written to its socket. */
function publishWindows(list: readonly Device[], windowMs: number): Promise<void> {
  return new Promise((resolve) => {
    let left = list.length
    if (left === 0) resolve()
    for (const d of list) {
      clients[d.via]?.publish(t.telemetry(d.id), telemetry(d, windowMs), { qos: 0 }, () => {
        if (--left === 0) resolve()
      })
    }
  })
}

clients[0]?.on('message', (topic, payload) => {
  if (payload.length === 0) return
  const r = codec.decode(topic, payload)
  if (!r.ok) return
  const m = r.message
  if (m.type === 'fleet-event') return
  const d = byId.get(m.deviceId)
  if (d === undefined) return
  if (m.type === 'desired') {
    counters.desired++
    const b = m.body
    if (b.generation <= d.generation) return
    d.generation = b.generation
    d.rolloutId = b.rolloutId
    if (b.model === null) [d.active, d.previous, d.phase] = [null, null, 'idle']
    else if (d.active?.sha256 !== b.model.sha256) {
      d.previous = d.active
      d.active = { name: b.model.name, version: b.model.version, sha256: b.model.sha256 }
      d.phase = 'active'
    }
    void report(d)
  } else if (m.type === 'command' && m.body.kind === 'rollback') {
    counters.commands++
    const changed = d.previous !== null
    if (changed) [d.active, d.previous] = [d.previous, d.active]
    d.phase = 'active'
    void report(d).then(() =>
      publish(
        d,
        'reply',
        {
          commandId: m.id,
          ok: true,
          final: true,
          result: { kind: 'rollback', activeVersion: d.active?.version ?? '', slots: slots(d), changed },
        },
        1,
        false,
      ),
    )
  }
})
await clients[0]?.subscribeAsync([t.allDevices('desired'), t.allDevices('cmd')], { qos: 1 })
for (let i = 0; i < devices.length; i += 1000) {
  await Promise.all(
    devices
      .slice(i, i + 1000)
      .flatMap((d) => [publish(d, 'status', { online: true, session: 1, hardware, agentVersion: 'bench-1' }, 1, true), report(d)]),
  )
}

let steady: NodeJS.Timeout | null = null
serveParent(
  {
    /** Every device `rounds` times, as fast as the sockets take it. */
    async burst(a) {
      const rounds = Number(a.rounds ?? 1)
      const startedAt = Date.now()
      for (let r = 0; r < rounds; r++) await publishWindows(devices, Number(a.windowMs ?? 1000))
      return { startedAt, endedAt: Date.now(), sent: rounds * devices.length }
    },
    /** Every device once per `windowMs`, in 10 slices a window; returns at once. */
    steady(a) {
      if (steady !== null) clearInterval(steady)
      const windowMs = Number(a.windowMs ?? 1000)
      const slices = 10
      const size = Math.ceil(devices.length / slices)
      let k = 0
      steady = setInterval(() => {
        const part = k++ % slices
        void publishWindows(devices.slice(part * size, (part + 1) * size), windowMs)
      }, windowMs / slices)
      return { startedAt: Date.now() }
    },
    stop() {
      if (steady !== null) clearInterval(steady)
      steady = null
      return { stoppedAt: Date.now(), sent: devices.reduce((a, d) => a + d.seq, 0) }
    },
    fault(a) {
      const version = String(a.version)
      if (a.errors === undefined) faults.delete(version)
      else faults.set(version, Number(a.errors))
      return { at: Date.now() }
    },
    counts() {
      const versions: Record<string, number> = {}
      for (const d of devices) versions[d.active?.version ?? 'none'] = (versions[d.active?.version ?? 'none'] ?? 0) + 1
      return { ...counters, versions, sent: devices.reduce((a, d) => a + d.seq, 0) }
    },
  },
  async () => {
    if (steady !== null) clearInterval(steady)
    await Promise.all(clients.map((c) => c.endAsync(true)))
  },
)
