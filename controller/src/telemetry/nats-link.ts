import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JsMsg } from '@nats-io/jetstream'
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { createCodec, deviceIdFromSubject, type BridgeKind, type Codec, type FleetEventBody } from '@liquid-edge/protocol'
import type { TelemetryIngest } from './ingest.js'

export interface NatsLinkOptions {
  servers: string
  /** The broker's JetStream stream (the broker creates it). */
  stream: string
  subjectPrefix: string
  root: string
  ingest: TelemetryIngest
  redis: Redis
  prefix: string
  logger: Logger
  /** Envelope ids remembered for de-duplication. @defaultValue 600000 */
  dedupMs?: number
}

const KINDS: readonly BridgeKind[] = ['telemetry', 'events']
const BATCH = 500

/**
 * Telemetry from the broker's JetStream stream: one durable pull consumer per kind, shared by
 * every controller replica (each message goes to one of them), at least once. Redeliveries are
 * dropped by envelope id (Redis SET NX per batch, one round trip). Messages are acknowledged after
 * their batch is folded into the windows. Also publishes alerts and decisions to JetStream.
 */
export class NatsLink {
  private nc: NatsConnection | null = null
  private closed = false
  private readonly codec: Codec
  private running: Promise<void> = Promise.resolve()

  constructor(private readonly o: NatsLinkOptions) {
    this.codec = createCodec({ root: o.root })
  }

  start(): void {
    this.running = this.run().catch((err: unknown) => {
      this.o.logger.error({ err }, 'JetStream ingest stopped')
    })
  }

  private async run(): Promise<void> {
    while (!this.closed && this.nc === null) {
      try {
        this.nc = await connect({ servers: this.o.servers.split(','), name: 'liquid-controller', maxReconnectAttempts: -1 })
      } catch (err) {
        this.o.logger.warn({ err: (err as Error).message }, 'NATS unreachable; retrying')
        await sleep(1000)
      }
    }
    const nc = this.nc
    if (nc === null) return
    const jsm = await jetstreamManager(nc)
    await Promise.all(KINDS.map((kind) => this.consume(nc, jsm, kind)))
  }

  private async consume(nc: NatsConnection, jsm: Awaited<ReturnType<typeof jetstreamManager>>, kind: BridgeKind): Promise<void> {
    const durable = `liquid-controller-${kind}`
    for (;;) {
      if (this.closed) return
      try {
        await jsm.consumers.info(this.o.stream, durable).catch(() =>
          jsm.consumers.add(this.o.stream, {
            durable_name: durable,
            ack_policy: AckPolicy.Explicit,
            deliver_policy: DeliverPolicy.New,
            filter_subject: `${this.o.subjectPrefix}.${kind}.>`,
            max_ack_pending: 20_000,
            ack_wait: nanos(30_000),
          }),
        )
        break
      } catch (err) {
        this.o.logger.warn({ err: (err as Error).message, stream: this.o.stream }, 'JetStream stream not ready; retrying')
        await sleep(1000)
      }
    }
    const js = jetstream(nc)
    const consumer = await js.consumers.get(this.o.stream, durable)
    const messages = await consumer.consume({ max_messages: 2000 })
    let batch: JsMsg[] = []
    let timer: NodeJS.Timeout | null = null
    const flush = async (): Promise<void> => {
      if (timer !== null) clearTimeout(timer)
      timer = null
      const b = batch
      batch = []
      if (b.length > 0) await this.handle(kind, b)
    }
    for await (const m of messages) {
      batch.push(m)
      if (batch.length >= BATCH) await flush()
      else timer ??= setTimeout(() => void flush(), 20)
    }
    await flush()
  }

  private async handle(kind: BridgeKind, msgs: readonly JsMsg[]): Promise<void> {
    const decoded = msgs.map((m) => {
      const id = deviceIdFromSubject(m.subject)
      if (id === null) return null
      const r = this.codec.decode(this.codec.topics.device(id, kind === 'events' ? 'events' : 'telemetry'), m.data)
      return r.ok ? r : null
    })
    const p = this.o.redis.pipeline()
    for (const d of decoded) if (d !== null) p.set(`${this.o.prefix}:tm:seen:${d.message.id}`, '1', 'PX', this.o.dedupMs ?? 600_000, 'NX')
    const res = (await p.exec()) ?? []
    let i = 0
    for (const d of decoded) {
      if (d === null) {
        this.o.ingest.countInvalid()
        continue
      }
      if (res[i++]?.[1] === 'OK') this.o.ingest.onMessage(d)
      else this.o.ingest.counters.duplicates++
    }
    await this.o.ingest.flush()
    for (const m of msgs) m.ack()
  }

  async publishEvent(body: FleetEventBody): Promise<void> {
    if (this.nc === null) throw new Error('NATS is not connected')
    await jetstream(this.nc).publish(`${this.o.subjectPrefix}.fleet.events`, JSON.stringify(body), { msgID: randomUUID() })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.nc?.drain().catch(() => undefined)
    await this.running
  }
}
