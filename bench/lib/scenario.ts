/**
 * The system the controller benches measure, each part in a process of its own: a private
 * Mosquitto, a light simulated fleet running 1.0.0, and (once `withController` is called) a
 * controller with those devices registered and a 2.0.0 rollout active at its first step (25 %) with
 * the default rules — the state a fleet is in while a release bakes.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createTopics } from '@liquid-edge/protocol'
import { opaquePackage, publisherKeyPair, startMosquitto, startRedisServer, uniqueRoot, waitFor } from '@liquid-edge/test/harness'
import { startChild, type BenchChild } from './child.js'
import { startController, type ControllerProc } from './controller.js'

const here = dirname(fileURLToPath(import.meta.url))
const MODEL = 'bench-kws'

export interface Scenario {
  n: number
  root: string
  brokerUrl: string
  fleet: BenchChild
  /** A bare subscriber on `topic` in its own process (the raw baseline). */
  subscriber(topic: string): Promise<BenchChild>
  /** Start the controller, register the devices, push 1.0.0 and 2.0.0 and deploy 2.0.0 in steps 25 % → 100 %. */
  withController(env?: Record<string, string>, rollout?: Record<string, unknown>): Promise<{ ctl: ControllerProc; rolloutId: string }>
  telemetryTopic: string
  close(): Promise<void>
}

export function line(s: string): void {
  process.stdout.write(`${s}\n`)
}

export async function startScenario(n: number, o: { connections?: number } = {}): Promise<Scenario> {
  const key = publisherKeyPair()
  const packages = ['1.0.0', '2.0.0'].map((version) => opaquePackage(key.privateKey, { name: MODEL, version }))
  const sha = createHash('sha256')
    .update(packages[0] ?? new Uint8Array())
    .digest('hex')
  const broker = await startMosquitto({ unboundedQueues: true })
  const root = uniqueRoot()
  // A Redis of its own: the machine's is shared, and its load would be measured too.
  const redis = await startRedisServer()
  const storeDir = await mkdtemp(join(tmpdir(), 'lln-bench-store-'))
  const children: BenchChild[] = []
  let ctl: ControllerProc | null = null
  const fleet = await startChild(join(here, 'fleet-child.ts'), {
    BENCH_URL: broker.url,
    BENCH_ROOT: root,
    BENCH_N: String(n),
    BENCH_CONNECTIONS: String(o.connections ?? 20),
    BENCH_MODEL: JSON.stringify({ name: MODEL, version: '1.0.0', sha256: sha }),
  })
  children.push(fleet)
  return {
    n,
    root,
    brokerUrl: broker.url,
    fleet,
    telemetryTopic: createTopics(root).allDevices('telemetry'),
    async subscriber(topic) {
      const s = await startChild(join(here, 'subscriber-child.ts'), { BENCH_URL: broker.url, BENCH_TOPIC: topic })
      children.push(s)
      return s
    },
    async withController(env = {}, rollout = {}) {
      ctl = await startController({
        LLN_REDIS_URL: redis.url,
        LLN_MQTT_URL: broker.url,
        LLN_ROOT: root,
        LLN_PUBLISHER_KEYS: key.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
        LLN_STORE_DIR: storeDir,
        ...env,
      })
      const c = ctl
      for (let i = 0; i < n; i += 5000) {
        const devices = Array.from({ length: Math.min(5000, n - i) }, (_, k) => ({ id: `d-${i + k}`, labels: { bench: 'fleet' } }))
        await c.call('POST', '/v1/devices/bulk', { devices })
      }
      for (const p of packages) await c.call('POST', '/v1/models', p)
      const r = await c.call<{ id: string }>('POST', '/v1/rollouts', {
        model: { name: MODEL, version: '2.0.0' },
        target: 'bench=fleet',
        bakeMs: 3_600_000,
        ...rollout,
      })
      const first = Math.floor(n * 0.25 * 0.95)
      await waitFor(async () => ((await fleet.request<{ versions: Record<string, number> }>('counts')).versions['2.0.0'] ?? 0) >= first, {
        timeoutMs: 300_000,
        intervalMs: 200,
        what: `${first} devices on 2.0.0`,
      })
      return { ctl: c, rolloutId: r.id }
    },
    async close() {
      await ctl?.stop()
      for (const ch of children) await ch.stop()
      await broker[Symbol.asyncDispose]()
      await redis[Symbol.asyncDispose]()
      await rm(storeDir, { recursive: true, force: true })
    },
  }
}
