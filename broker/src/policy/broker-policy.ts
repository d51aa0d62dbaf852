import type { AedesPublishPacket, Client, PublishPacket, Subscription } from 'aedes'
import type { Logger } from 'pino'
import { DELIVERY, type BridgeKind, type Codec, type ErrorCode } from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'
import type { BrokerMetrics, PublishRefusal } from '../ops/metrics.js'
import type { ClientSession } from './session.js'

/** A refused publish or subscription, as the broker reports it in its `refused` event. */
export interface Refusal {
  clientId: string
  topic: string
  action: 'publish' | 'subscribe'
  reason: PublishRefusal | 'not_authorized'
  code: ErrorCode
}

/** What the bridge needs of an accepted message. */
export interface BridgeItem {
  kind: BridgeKind
  deviceId: string
  msgId: string
  acceptedAt: number
}

const BRIDGED: ReadonlySet<string> = new Set<BridgeKind>(['telemetry', 'status', 'reported', 'events'])

export interface BrokerPolicyOptions {
  codec: Codec
  metrics: BrokerMetrics
  clock: Clock
  logger: Logger
  sessions: WeakMap<Client, ClientSession>
  /** Called for every refusal (the broker turns it into its `refused` event). */
  onRefused: (refusal: Refusal) => void
  /** Whether accepted device messages should be handed to the bridge. */
  bridging: boolean
}

/**
 * The authorization and validation pipeline behind aedes' hooks.
 *
 * A refused PUBLISH is accepted-and-dropped, never answered by closing the connection: MQTT 3.1.1
 * has no negative PUBACK, and a client whose QoS 1 publish is refused by a disconnect re-sends it
 * after every reconnect (TECH-NOTES §1.7, the denial reconnect loop). So `authorizePublish` calls
 * back without error, the client gets its PUBACK, and the packet is marked; the broker's
 * `publish` gate then swallows marked packets before they are stored, queued or forwarded.
 */
export class BrokerPolicy {
  readonly #o: BrokerPolicyOptions
  readonly #dropped = new WeakSet<object>()
  readonly #bridge = new WeakMap<object, BridgeItem>()
  /** Topic → kind label for the delivery counter (aedes calls authorizeForward once per subscriber). */
  readonly #kinds = new Map<string, string>()

  constructor(options: BrokerPolicyOptions) {
    this.#o = options
  }

  /** True when `packet` was refused by `authorizePublish` and must not be published. */
  isDropped(packet: object): boolean {
    return this.#dropped.has(packet)
  }

  /** The bridge details of an accepted device message, if it is one the bridge forwards. */
  bridgeItem(packet: object): BridgeItem | undefined {
    return this.#bridge.get(packet)
  }

  readonly authorizePublish = (client: Client | null, packet: PublishPacket, cb: (err?: Error | null) => void): void => {
    if (client === null) {
      cb(null)
      return
    }
    const session = this.#o.sessions.get(client)
    const topic = packet.topic
    if (session === undefined || !session.mayPublish(topic)) {
      this.#drop(client, packet, session, 'not_authorized', 'BROKER_NOT_AUTHORIZED')
    } else if (!this.#withinRate(client, packet, session)) {
      this.#drop(client, packet, session, 'rate_limited', 'BROKER_RATE_LIMITED')
    } else {
      this.#validate(client, packet, session)
    }
    cb(null)
  }

  readonly authorizeSubscribe = (client: Client, sub: Subscription, cb: (err: Error | null, sub?: Subscription | null) => void): void => {
    const session = this.#o.sessions.get(client)
    if (session?.mayReceive(sub.topic) === true) {
      cb(null, sub)
      return
    }
    if (session !== undefined) session.stats.subscribesRefused++
    this.#o.metrics.subscribesRefused.inc()
    this.#o.onRefused({
      clientId: client.id,
      topic: sub.topic,
      action: 'subscribe',
      reason: 'not_authorized',
      code: 'BROKER_NOT_AUTHORIZED',
    })
    this.#o.logger.warn({ clientId: client.id, topic: sub.topic }, 'subscription refused')
    cb(null, null) // SUBACK 0x80 for this filter; the connection stays
  }

  /** Synchronous: answers from the identity cached at CONNECT. Also stops delivery after a revocation. */
  readonly authorizeForward = (client: Client, packet: AedesPublishPacket): AedesPublishPacket | null => {
    const session = this.#o.sessions.get(client)
    if (session === undefined || !session.mayReceive(packet.topic)) return null
    this.#o.metrics.countOut(this.#kindOf(packet.topic))
    return packet
  }

  #kindOf(topic: string): string {
    let kind = this.#kinds.get(topic)
    if (kind === undefined) {
      kind = this.#o.codec.topics.parse(topic)?.kind ?? 'other'
      if (this.#kinds.size >= 10_000) this.#kinds.clear()
      this.#kinds.set(topic, kind)
    }
    return kind
  }

  #withinRate(client: Client, packet: PublishPacket, session: ClientSession): boolean {
    if (session.bucket === null) return true
    if ((client as unknown as { will?: unknown }).will === packet) return true // the Last Will is never rate limited
    return session.bucket.take(this.#o.clock.now())
  }

  #validate(client: Client, packet: PublishPacket, session: ClientSession): void {
    const parsed = this.#o.codec.topics.parse(packet.topic)
    if (parsed === null) {
      this.#accept(session, 'other')
      return
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
    // An empty retained payload is MQTT's "clear the retained message": the controller's to send.
    if (payload.length === 0 && session.identity.role === 'controller' && DELIVERY[parsed.kind].retain) {
      this.#accept(session, parsed.kind)
      return
    }
    const result = this.#o.codec.decode(packet.topic, payload)
    if (!result.ok) {
      session.stats.lastInvalidCode = result.error.code
      this.#o.metrics.invalidPayloads.labels(result.error.code).inc()
      this.#drop(client, packet, session, 'invalid_payload', result.error.code)
      return
    }
    if (this.#o.bridging && parsed.kind !== 'fleet-events' && BRIDGED.has(parsed.kind)) {
      this.#bridge.set(packet, {
        kind: parsed.kind as BridgeKind,
        deviceId: parsed.deviceId,
        msgId: result.message.id,
        acceptedAt: this.#o.clock.now(),
      })
    }
    this.#accept(session, parsed.kind)
  }

  #accept(session: ClientSession, kind: string): void {
    session.stats.accepted++
    this.#o.metrics.countIn(kind)
  }

  #drop(client: Client, packet: PublishPacket, session: ClientSession | undefined, reason: PublishRefusal, code: ErrorCode): void {
    this.#dropped.add(packet)
    packet.retain = false
    if (session !== undefined) {
      if (reason === 'not_authorized') session.stats.notAuthorized++
      else if (reason === 'rate_limited') session.stats.rateLimited++
      else session.stats.invalidPayloads++
    }
    this.#o.metrics.publishesRefused.labels(reason).inc()
    if (reason === 'rate_limited') this.#o.metrics.rateLimited.inc()
    this.#o.onRefused({ clientId: client.id, topic: packet.topic, action: 'publish', reason, code })
    this.#o.logger.debug({ clientId: client.id, topic: packet.topic, code }, 'publish dropped')
  }
}
