import mqtt, { type MqttClient } from 'mqtt'
import { createCodec, deviceMessage, type TelemetryBody } from '@liquid-edge/protocol'
import { testEnv, type Env } from '../helpers.js'

export type TelemetryEnv = Env

/** {@link testEnv} with telemetry windows, rule evaluation and rule durations shortened for tests. */
export function telemetryEnv(base: Record<string, unknown> = {}): Promise<TelemetryEnv> {
  return testEnv({
    telemetryBucketMs: 100,
    telemetryFlushMs: 20,
    rulesEvalMs: 200,
    rulesTimeScale: 0.005,
    // Fake devices reconnect when a test says so, not after a back-off: no reconnect grace unless a test sets one.
    reconnectGraceMs: 0,
    ...base,
  })
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
