/** Bench helpers: a controller child process, telemetry publishers, signed model packages. */
import { spawn, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { Aedes } from 'aedes'
import mqtt, { type MqttClient } from 'mqtt'
import { createTopics, deviceMessage, type TelemetryBody } from '@liquid-edge/protocol'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const ADMIN = 'bench-admin-token-0123456789'

/**
 * A bare aedes broker on port 0 with an unbounded emitter: with the default concurrency (100) a
 * burst of thousands of QoS 0 packets queues inside mqemitter, whose synchronous release recurses
 * past the stack limit (RangeError in qlobber). Raw and end-to-end runs use this same broker.
 */
export async function startBenchBroker(): Promise<{ url: string; close(): Promise<void> }> {
  const aedes = await Aedes.createBroker({ concurrency: 1_000_000 })
  const server = createServer(aedes.handle)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `mqtt://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((r) => {
        aedes.close(() => {
          r()
        })
      })
      await new Promise<void>((r) =>
        server.close(() => {
          r()
        }),
      )
    },
  }
}

export interface ControllerProc {
  url: string
  pid: number
  child: ChildProcess
  call<T>(method: string, path: string, body?: unknown): Promise<T>
  /** CPU seconds (user + system) and RSS bytes of the process, from /proc. */
  usage(): { cpuS: number; rssBytes: number }
  stop(): Promise<void>
}

export async function startController(env: Record<string, string>): Promise<ControllerProc> {
  const child = spawn(
    process.execPath,
    ['--conditions=@liquid-edge/source', '--import', 'tsx', join(repo, 'controller/src/bin/liquid-controller.ts')],
    {
      env: { ...process.env, LLN_ADMIN_TOKEN: ADMIN, LLN_LOG_LEVEL: 'warn', LLN_HTTP_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  const url = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /listening on (\S+)/.exec(out)
      if (m?.[1] !== undefined) resolve(m[1])
    })
    child.once('exit', (code) => {
      reject(new Error(`controller exited with ${code}`))
    })
  })
  const tick = 100 // USER_HZ on Linux
  return {
    url,
    pid: child.pid ?? 0,
    child,
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      const binary = body instanceof Uint8Array
      const res = await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${ADMIN}`,
          ...(body === undefined ? {} : { 'content-type': binary ? 'application/octet-stream' : 'application/json' }),
        },
        ...(body === undefined ? {} : { body: binary ? Buffer.from(body) : JSON.stringify(body) }),
      })
      const text = await res.text()
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
      return (text === '' ? {} : JSON.parse(text)) as T
    },
    usage() {
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
      const cpuS = (Number(stat[11]) + Number(stat[12])) / tick
      const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
      return { cpuS, rssBytes: Number(rss?.[1] ?? 0) * 1024 }
    },
    async stop() {
      const done = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await done
    },
  }
}

/** Many simulated devices over a few MQTT connections (like gateways), publishing telemetry. */
export class Publishers {
  private readonly seq = new Map<string, number>()
  sent = 0
  private constructor(
    private readonly clients: MqttClient[],
    private readonly root: string,
  ) {}

  static async connect(url: string, root: string, connections: number): Promise<Publishers> {
    const clients = await Promise.all(Array.from({ length: connections }, () => mqtt.connectAsync(url, { reconnectPeriod: 0 })))
    return new Publishers(clients, root)
  }

  payload(deviceId: string, body: Partial<TelemetryBody>): string {
    const seq = this.seq.get(deviceId) ?? 0
    this.seq.set(deviceId, seq + 1)
    const full: TelemetryBody = {
      seq,
      windowStart: Date.now() - 1000,
      windowMs: 1000,
      model: { name: 'kws', version: '1.0.0' },
      inferences: 20,
      errors: 0,
      latencyMs: { p50: 4, p95: 6, p99: 8, max: 9 },
      energy: { avgMw: 50, perInferenceMj: null },
      temperatureC: 40,
      memory: { usedBytes: 100, totalBytes: 1000 },
      dropped: 0,
      ...body,
    }
    return JSON.stringify(deviceMessage('telemetry', deviceId, full))
  }

  /** Publish one window for each device (QoS 0), spread over the connections; resolves when written. */
  async publishAll(ids: readonly string[], body: (id: string) => Partial<TelemetryBody> = () => ({})): Promise<void> {
    const topics = createTopics(this.root)
    const writes: Promise<void>[] = []
    ids.forEach((id, i) => {
      const c = this.clients[i % this.clients.length]!
      writes.push(
        new Promise((resolve) =>
          c.publish(topics.telemetry(id), this.payload(id, body(id)), { qos: 0 }, () => {
            resolve()
          }),
        ),
      )
      this.sent++
    })
    await Promise.all(writes)
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.endAsync(true)))
  }
}

export function publisherKey() {
  return generateKeyPairSync('ed25519')
}
