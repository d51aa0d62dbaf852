import { connect, headers, nanos, type NatsConnection } from '@nats-io/transport-node'
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamClient } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import { natsSubject } from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'
import type { BrokerMetrics } from '../ops/metrics.js'
import type { BridgeItem } from '../policy/broker-policy.js'

export interface NatsBridgeOptions {
  servers: string
  stream: string
  subjectPrefix: string
  storage: 'file' | 'memory'
  maxAgeMs: number
  maxBytes: number
  maxMsgs: number
  duplicateWindowMs: number
  maxPending: number
  /**
   * `batch`: core publishes carrying `Nats-Msg-Id`, confirmed per batch of 256 by a flush (about 5× the
   * throughput; JetStream still de-duplicates). `each`: a JetStream publish and ack per message.
   */
  ack: 'batch' | 'each'
  reconnectWaitMs: number
  metrics: BrokerMetrics
  logger: Logger
  clock: Clock
}

export type BridgeState = 'connecting' | 'connected' | 'disconnected' | 'closed'

interface Pending extends BridgeItem {
  payload: Uint8Array
  attempts: number
}

const MAX_IN_FLIGHT = 64
const BATCH_SIZE = 256
const MAX_ATTEMPTS = 5
const PUBLISH_TIMEOUT_MS = 5000

/**
 * Forwards accepted device messages to JetStream, off MQTT's path: `enqueue` only appends to a
 * bounded buffer, and a pump publishes with up to 64 acks in flight. Subjects come from the
 * protocol's `natsSubject`; the envelope id is the JetStream `msgID`, so retries and
 * re-deliveries are de-duplicated within the stream's `duplicate_window`.
 *
 * While NATS is unreachable MQTT keeps flowing: messages wait in the buffer (counted as deferred)
 * and are published when the connection returns; past `maxPending` the oldest are dropped and
 * counted (`unbridged{reason="overflow"}`), as are messages that fail five times (`failed`).
 */
export class NatsBridge {
  readonly #o: NatsBridgeOptions
  readonly #queue: Pending[] = []
  #nc: NatsConnection | undefined
  #js: JetStreamClient | undefined
  #state: BridgeState = 'connecting'
  #inFlight = 0
  #idle: (() => void)[] = []
  #wake: (() => void) | undefined

  constructor(options: NatsBridgeOptions) {
    this.#o = options
  }

  get state(): BridgeState {
    return this.#state
  }

  get pending(): number {
    return this.#queue.length + this.#inFlight
  }

  /** Connect in the background (never blocks the broker's start) and keep reconnecting. */
  start(): void {
    void this.#run().catch((err: unknown) => {
      this.#o.logger.error({ err }, 'NATS bridge stopped')
    })
  }

  async #run(): Promise<void> {
    let nc: NatsConnection | undefined
    while (nc === undefined) {
      if (this.#isClosed()) return
      try {
        nc = await connect({
          servers: this.#o.servers.split(','),
          name: 'liquid-broker',
          maxReconnectAttempts: -1,
          reconnectTimeWait: this.#o.reconnectWaitMs,
        })
      } catch (err) {
        this.#o.logger.warn({ err: (err as Error).message }, 'NATS unreachable; retrying')
        await this.#sleep(this.#o.reconnectWaitMs)
      }
    }
    if (this.#isClosed()) {
      await nc.close()
      return
    }
    this.#nc = nc
    if (!(await this.#ensureStream(nc))) return
    this.#js = jetstream(nc)
    this.#setState('connected')
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') this.#setState('disconnected')
      else if (s.type === 'reconnect') this.#setState('connected')
    }
  }

  #isClosed(): boolean {
    return this.#state === 'closed'
  }

  /** A wait that `close()` cuts short. */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined
        resolve()
      }, ms)
      this.#wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  /** Create the stream, or update it to the configured retention, retrying until it works. */
  async #ensureStream(nc: NatsConnection): Promise<boolean> {
    const o = this.#o
    const config = {
      subjects: [`${o.subjectPrefix}.>`],
      max_age: nanos(o.maxAgeMs),
      max_bytes: o.maxBytes,
      max_msgs: o.maxMsgs,
      duplicate_window: nanos(o.duplicateWindowMs),
    }
    for (;;) {
      try {
        const jsm = await jetstreamManager(nc)
        const exists = await jsm.streams.info(o.stream).then(
          () => true,
          () => false,
        )
        if (exists) await jsm.streams.update(o.stream, config)
        else
          await jsm.streams.add({
            name: o.stream,
            retention: RetentionPolicy.Limits,
            storage: o.storage === 'file' ? StorageType.File : StorageType.Memory,
            ...config,
          })
        o.logger.info({ stream: o.stream, subjects: config.subjects }, 'JetStream stream ready')
        return true
      } catch (err) {
        if (this.#isClosed()) return false
        o.logger.error({ err, stream: o.stream }, 'cannot create or update the JetStream stream; retrying')
        await this.#sleep(Math.max(500, o.reconnectWaitMs))
      }
    }
  }

  #setState(state: BridgeState): void {
    if (this.#state === 'closed' || this.#state === state) return
    this.#state = state
    this.#o.metrics.bridgeConnected.set(state === 'connected' ? 1 : 0)
    this.#o.logger[state === 'connected' ? 'info' : 'warn']({ state, pending: this.pending }, 'NATS bridge state changed')
    this.#pump()
  }

  /** Hand over an accepted message; returns at once. */
  enqueue(item: BridgeItem, payload: Uint8Array): void {
    if (this.#state === 'closed') return
    if (this.#queue.length >= this.#o.maxPending) {
      this.#queue.shift()
      this.#o.metrics.unbridged.labels('overflow').inc()
    }
    if (this.#state !== 'connected') this.#o.metrics.bridgeDeferred.inc()
    this.#queue.push({ ...item, payload, attempts: 0 })
    this.#o.metrics.bridgePending.set(this.pending)
    this.#pump()
  }

  #pump(): void {
    if (this.#o.ack === 'each') this.#pumpEach()
    else this.#pumpBatch()
    this.#o.metrics.bridgePending.set(this.pending)
    if (this.pending === 0) for (const resolve of this.#idle.splice(0)) resolve()
  }

  #subject(item: Pending): string {
    return natsSubject(item.kind, item.deviceId, this.#o.subjectPrefix)
  }

  #pumpEach(): void {
    const js = this.#js
    while (js !== undefined && this.#state === 'connected' && this.#inFlight < MAX_IN_FLIGHT) {
      const item = this.#queue.shift()
      if (item === undefined) break
      this.#inFlight++
      item.attempts++
      js.publish(this.#subject(item), item.payload, { msgID: item.msgId, timeout: PUBLISH_TIMEOUT_MS }).then(
        (ack) => {
          if (ack.duplicate) this.#o.metrics.bridgeDuplicates.inc()
          this.#bridged([item])
        },
        (err: unknown) => {
          this.#failed([item], err)
        },
      )
    }
  }

  /** One batch at a time: publish up to 256 messages, then a flush confirms the server has them all. */
  #pumpBatch(): void {
    const nc = this.#nc
    if (nc === undefined || this.#js === undefined || this.#state !== 'connected' || this.#inFlight > 0) return
    const batch = this.#queue.splice(0, BATCH_SIZE)
    if (batch.length === 0) return
    this.#inFlight = batch.length
    try {
      for (const item of batch) {
        item.attempts++
        const h = headers()
        h.set('Nats-Msg-Id', item.msgId)
        nc.publish(this.#subject(item), item.payload, { headers: h })
      }
    } catch (err) {
      this.#failed(batch, err)
      return
    }
    nc.flush().then(
      () => {
        this.#bridged(batch)
      },
      (err: unknown) => {
        this.#failed(batch, err)
      },
    )
  }

  #bridged(items: Pending[]): void {
    const now = this.#o.clock.now()
    for (const item of items) {
      this.#o.metrics.bridgePublished.labels(item.kind).inc()
      this.#o.metrics.bridgeLag.observe((now - item.acceptedAt) / 1000)
    }
    this.#inFlight -= items.length
    this.#pump()
  }

  /** Put failed messages back at the head (re-sends are de-duplicated by id); give up after 5 tries. */
  #failed(items: Pending[], err: unknown): void {
    const retry = items.filter((item) => item.attempts < MAX_ATTEMPTS && this.#state !== 'closed')
    this.#queue.unshift(...retry)
    const lost = items.length - retry.length
    if (lost > 0) {
      this.#o.metrics.unbridged.labels('failed').inc(lost)
      this.#o.logger.warn({ err, lost }, 'messages not bridged')
    }
    this.#inFlight -= items.length
    this.#pump()
  }

  /** Resolves when nothing is pending, or after `timeoutMs` (whatever is still queued then is lost). */
  async flush(timeoutMs: number): Promise<void> {
    if (this.pending === 0) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      new Promise<void>((resolve) => this.#idle.push(resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ])
    clearTimeout(timer)
  }

  async close(timeoutMs: number): Promise<void> {
    if (this.#state === 'closed') return
    if (this.#state === 'connected') await this.flush(timeoutMs)
    const lost = this.pending
    this.#state = 'closed'
    this.#wake?.()
    if (lost > 0) {
      this.#o.metrics.unbridged.labels('shutdown').inc(lost)
      this.#o.logger.warn({ lost }, 'bridge closed with messages not bridged')
    }
    this.#queue.length = 0
    await this.#nc?.close().catch(() => undefined)
  }
}
