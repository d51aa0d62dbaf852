import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { createCodec, deviceMessage, type TelemetryBody } from '@liquid-edge/protocol'
import { REDIS_URL, deleteKeys, redisClient, startPlainBroker, uniquePrefix, uniqueRoot, type PlainBroker } from '@liquid-edge/test/harness'
import { createController, loadConfig, type Controller } from '../../src/index.js'
import { ADMIN, newPublisher, type Publisher } from '../helpers.js'

export interface TelemetryEnv extends AsyncDisposable {
  broker: PlainBroker
  root: string
  prefix: string
  bullPrefix: string
  publisher: Publisher
  start(overrides?: Record<string, unknown>, instanceId?: string): Promise<Controller>
  controllers: Controller[]
}

/** A broker on port 0, unique prefixes and root, and controllers with shortened telemetry windows. */
export async function telemetryEnv(base: Record<string, unknown> = {}): Promise<TelemetryEnv> {
  const broker = await startPlainBroker()
  const root = uniqueRoot()
  const prefix = uniquePrefix('tm')
  const bullPrefix = uniquePrefix('tmb')
  const storeDir = mkdtempSync(join(tmpdir(), 'lln-tm-'))
  const controllers: Controller[] = []
  const env: TelemetryEnv = {
    broker,
    root,
    prefix,
    bullPrefix,
    publisher: newPublisher(),
    controllers,
    async start(overrides = {}, instanceId) {
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
          adminToken: ADMIN,
          tickMs: 100,
          leaseMs: 1500,
          telemetryBucketMs: 100,
          telemetryFlushMs: 20,
          rulesEvalMs: 200,
          rulesTimeScale: 0.005,
          ...base,
          ...overrides,
        },
      )
      const c = await createController({
        config,
        publisherKeys: [env.publisher.publicKey],
        ...(instanceId === undefined ? {} : { instanceId }),
      })
      controllers.push(c)
      return c
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(controllers.map((c) => c.close()))
      await broker.close()
      const redis = redisClient()
      await deleteKeys(redis, prefix)
      await deleteKeys(redis, bullPrefix)
      await redis.quit()
      rmSync(storeDir, { recursive: true, force: true })
    },
  }
  return env
}

export type WindowFn = (deviceId: string, seq: number) => Partial<TelemetryBody> | null

/**
 * Protocol-conformant telemetry publishers for many devices over one MQTT connection: every
 * `periodMs` each device publishes one window whose contents `fn` decides (null: stay silent).
 */
export class TelemetryPublisher implements AsyncDisposable {
  private seq = new Map<string, number>()
  private timer: NodeJS.Timeout | null = null
  sent = 0

  private constructor(
    private readonly client: MqttClient,
    private readonly root: string,
  ) {}

  static async connect(url: string, root: string): Promise<TelemetryPublisher> {
    return new TelemetryPublisher(await mqtt.connectAsync(url, { reconnectPeriod: 0 }), root)
  }

  window(deviceId: string, body: Partial<TelemetryBody>): Buffer {
    const codec = createCodec({ root: this.root })
    const seq = this.seq.get(deviceId) ?? 0
    this.seq.set(deviceId, seq + 1)
    const full: TelemetryBody = {
      seq,
      windowStart: Date.now() - 50,
      windowMs: 50,
      model: null,
      inferences: 20,
      errors: 0,
      latencyMs: { p50: 4, p95: 6, p99: 8, max: 9 },
      energy: { avgMw: 50, perInferenceMj: null },
      temperatureC: 40,
      memory: { usedBytes: 100, totalBytes: 1000 },
      dropped: 0,
      ...body,
    }
    return Buffer.from(codec.encode(deviceMessage('telemetry', deviceId, full)))
  }

  publishRaw(topic: string, payload: Buffer | string): void {
    this.client.publish(topic, payload, { qos: 0 })
  }

  /** Publish one window now. */
  publish(deviceId: string, body: Partial<TelemetryBody>): void {
    this.client.publish(createCodec({ root: this.root }).topics.telemetry(deviceId), this.window(deviceId, body), { qos: 0 })
    this.sent++
  }

  /** Publish for every device every `periodMs` until stopped. */
  run(ids: readonly string[], fn: WindowFn, periodMs = 50): void {
    this.stop()
    this.timer = setInterval(() => {
      for (const id of ids) {
        const body = fn(id, this.seq.get(id) ?? 0)
        if (body !== null) this.publish(id, body)
      }
    }, periodMs)
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.stop()
    await this.client.endAsync(true)
  }
}
