import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { FleetEventBodySchema, type FleetEventBody } from '@liquid-edge/protocol'

export interface EventSinkOptions {
  redis: Redis
  /** The audit stream (the rollout engine's, so `liquid-lln events` shows everything in order). */
  auditKey: string
  /** MQTT `lln/v1/fleet/events`. */
  publishMqtt: (body: FleetEventBody) => Promise<void>
  /** JetStream, when NATS is configured. */
  publishNats?: ((body: FleetEventBody) => Promise<void>) | undefined
  /** POST alerts and decisions as JSON here. */
  webhookUrl?: string | undefined
  webhookTimeoutMs?: number
  logger: Logger
}

/** Sink failures, by sink (exported to Prometheus). */
export interface SinkCounters {
  published: number
  mqttFailed: number
  natsFailed: number
  webhookSent: number
  webhookFailed: number
}

/**
 * Where alerts and decisions go: the Redis audit stream first (the record of truth), then MQTT,
 * JetStream and the webhook. A failing sink is logged and counted, never fatal.
 */
export class EventSink {
  readonly counters: SinkCounters = { published: 0, mqttFailed: 0, natsFailed: 0, webhookSent: 0, webhookFailed: 0 }
  constructor(private readonly o: EventSinkOptions) {}

  /** Record in the audit stream, then forward. */
  async publish(input: FleetEventBody): Promise<void> {
    const body = FleetEventBodySchema.parse(input)
    await this.o.redis.xadd(this.o.auditKey, 'MAXLEN', '~', '10000', '*', 'event', JSON.stringify(body))
    await this.forward(body)
  }

  /** Forward an event already in the audit stream to MQTT, JetStream and the webhook. */
  async forward(input: FleetEventBody): Promise<void> {
    const body = FleetEventBodySchema.parse(input)
    this.counters.published++
    const log = this.o.logger
    await Promise.all([
      this.o.publishMqtt(body).catch((err: unknown) => {
        this.counters.mqttFailed++
        log.warn({ err }, 'fleet event not published on MQTT')
      }),
      this.o.publishNats?.(body).catch((err: unknown) => {
        this.counters.natsFailed++
        log.warn({ err }, 'fleet event not published on JetStream')
      }),
      this.o.webhookUrl === undefined ? undefined : this.post(this.o.webhookUrl, body),
    ])
  }

  private async post(url: string, body: FleetEventBody): Promise<void> {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.o.webhookTimeoutMs ?? 5000),
      })
      await res.body?.cancel()
      if (!res.ok) throw new Error(`webhook answered ${res.status}`)
      this.counters.webhookSent++
    } catch (err) {
      this.counters.webhookFailed++
      this.o.logger.warn({ err }, 'alert webhook failed')
    }
  }
}
