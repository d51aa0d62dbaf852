import { connect, nanos, type NatsConnection } from '@nats-io/transport-node'
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
    const js = this.#js
    while (js !== undefined && this.#state === 'connected' && this.#inFlight < MAX_IN_FLIGHT) {
      const item = this.#queue.shift()
      if (item === undefined) break
      this.#inFlight++
      item.attempts++
      js.publish(natsSubject(item.kind, item.deviceId, this.#o.subjectPrefix), item.payload, {
        msgID: item.msgId,
        timeout: PUBLISH_TIMEOUT_MS,
      }).then(
        (ack) => {
          if (ack.duplicate) this.#o.metrics.bridgeDuplicates.inc()
          this.#o.metrics.bridgePublished.labels(item.kind).inc()
          this.#o.metrics.bridgeLag.observe((this.#o.clock.now() - item.acceptedAt) / 1000)
          this.#settle()
        },
        (err: unknown) => {
          if (item.attempts < MAX_ATTEMPTS && this.#state !== 'closed') this.#queue.unshift(item)
          else {
            this.#o.metrics.unbridged.labels('failed').inc()
            this.#o.logger.warn({ err, msgId: item.msgId }, 'message not bridged')
          }
          this.#settle()
        },
      )
    }
    this.#o.metrics.bridgePending.set(this.pending)
    if (this.pending === 0) for (const resolve of this.#idle.splice(0)) resolve()
  }

  #settle(): void {
    this.#inFlight--
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
