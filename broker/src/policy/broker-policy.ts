import type { AedesPublishPacket, Client, PublishPacket, Subscription } from 'aedes'
import type { Logger } from 'pino'
import { DELIVERY, FutureCommandSchema, type BridgeKind, type Codec, type ErrorCode, type TopicKind } from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'
import type { BrokerMetrics, DeliveryBreach, PublishRefusal } from '../ops/metrics.js'
import type { ClientSession, PublishRoute } from './session.js'

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
const REFUSED: PublishRoute = Object.freeze({ allowed: false, topic: null, kind: 'other', rule: null, bridged: false })

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
  /**
   * Where a validated message is serialised to be compared with the bytes as sent, without a
   * buffer per message; room for the largest accepted payload and a multi-byte character more.
   */
  readonly #scratch: Buffer

  constructor(options: BrokerPolicyOptions) {
    this.#o = options
    this.#scratch = Buffer.allocUnsafe(options.codec.maxBytes + 8)
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
    const route = session === undefined ? REFUSED : session.publishRoute(packet.topic, this.#classify)
    if (session === undefined || !route.allowed) {
      this.#drop(client, packet, session, 'not_authorized', 'BROKER_NOT_AUTHORIZED')
    } else if (!this.#withinRate(client, packet, session)) {
      this.#drop(client, packet, session, 'rate_limited', 'BROKER_RATE_LIMITED')
    } else {
      this.#validate(client, packet, session, route)
    }
    cb(null)
  }

  /** The ACL's answer and the topic's classification, once per client and topic (the session caches it). */
  readonly #classify = (session: ClientSession, topic: string): PublishRoute => {
    if (!session.mayPublish(topic)) return REFUSED
    const parsed = this.#o.codec.topics.parse(topic)
    if (parsed === null) return { allowed: true, topic: null, kind: 'other', rule: null, bridged: false }
    return {
      allowed: true,
      topic: parsed,
      kind: parsed.kind,
      rule: DELIVERY[parsed.kind],
      bridged: this.#o.bridging && parsed.kind !== 'fleet-events' && BRIDGED.has(parsed.kind),
    }
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

  #validate(client: Client, packet: PublishPacket, session: ClientSession, route: PublishRoute): void {
    const parsed = route.topic
    if (parsed === null || route.rule === null) {
      this.#accept(session, route.kind)
      return
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
    // An empty retained payload is MQTT's "clear the retained message": the controller's to send.
    if (payload.length === 0 && session.identity.role === 'controller' && route.rule.retain) {
      this.#accept(session, route.kind)
      return
    }
    const result = this.#o.codec.decode(packet.topic, payload)
    if (!result.ok && result.error.code === 'PROTO_UNKNOWN_COMMAND' && session.identity.role === 'controller') {
      if (this.#futureCommand(client, packet, session, payload)) return
    }
    if (!result.ok) {
      session.stats.lastInvalidCode = result.error.code
      this.#o.metrics.invalidPayloads.labels(result.error.code).inc()
      this.#drop(client, packet, session, 'invalid_payload', result.error.code)
      return
    }
    if (!this.#deliveryRule(client, packet, session, parsed.kind, route.rule)) return
    // What goes on is the validated message (unknown fields stripped), never the bytes as sent:
    // nothing unvalidated is forwarded, retained or bridged.
    this.#forwardAs(packet, payload, JSON.stringify(result.message))
    if (route.bridged && parsed.kind !== 'fleet-events') {
      this.#bridge.set(packet, {
        kind: parsed.kind as BridgeKind,
        deviceId: parsed.deviceId,
        msgId: result.message.id,
        acceptedAt: this.#o.clock.now(),
      })
    }
    this.#accept(session, route.kind)
  }

  /**
   * Make `json` (the validated message) the packet's payload. A sender that already sent exactly
   * those bytes (the agents do: they send what the codec encodes) keeps its buffer, which is then
   * byte for byte the same; anything else gets a new one.
   */
  #forwardAs(packet: PublishPacket, payload: Buffer, json: string): void {
    const written = this.#scratch.write(json, 'utf8')
    if (written === payload.length && written < this.#scratch.length && payload.compare(this.#scratch, 0, written) === 0) {
      packet.payload = payload
      return
    }
    packet.payload = Buffer.from(json)
  }

  /**
   * A controller may be newer than this broker: a command of a kind the broker does not know is
   * forwarded when its envelope, kind and expiry check out, so the device can answer it with
   * `PROTO_UNKNOWN_COMMAND` (the contract's rule) instead of the command vanishing here.
   * @returns true when forwarded
   */
  #futureCommand(client: Client, packet: PublishPacket, session: ClientSession, payload: Buffer): boolean {
    let parsed
    try {
      parsed = FutureCommandSchema.safeParse(JSON.parse(payload.toString('utf8')))
    } catch {
      return false
    }
    if (!parsed.success || this.#o.codec.topics.cmd(parsed.data.deviceId) !== packet.topic) return false
    if (!this.#deliveryRule(client, packet, session, 'cmd', DELIVERY.cmd)) return true
    packet.payload = Buffer.from(JSON.stringify(parsed.data))
    this.#accept(session, 'cmd')
    return true
  }

  /**
   * The contract fixes QoS and retain per topic kind (`DELIVERY`): a wrong retain flag is corrected
   * (retained telemetry would greet every new subscriber with a stale window; an unretained status
   * would be lost to a restarted controller), QoS 0 where 1 is due is counted, QoS 2 is refused.
   * @returns false when the packet was dropped
   */
  #deliveryRule(
    client: Client,
    packet: PublishPacket,
    session: ClientSession,
    kind: TopicKind,
    rule: PublishRoute['rule'] & object,
  ): boolean {
    if (packet.qos === 2) {
      this.#breach(client, packet, kind, 'qos2')
      this.#drop(client, packet, session, 'qos_not_allowed', 'BROKER_QOS_NOT_ALLOWED')
      return false
    }
    if (packet.retain !== rule.retain) {
      this.#breach(client, packet, kind, rule.retain ? 'not_retained' : 'retained')
      packet.retain = rule.retain
    }
    if (packet.qos === 0 && rule.qos === 1) this.#breach(client, packet, kind, 'qos0')
    return true
  }

  #breach(client: Client, packet: PublishPacket, kind: TopicKind, breach: DeliveryBreach): void {
    this.#o.metrics.deliveryBreaches.labels(kind, breach).inc()
    this.#o.logger.debug({ clientId: client.id, topic: packet.topic, breach }, 'publish against the delivery rule')
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
