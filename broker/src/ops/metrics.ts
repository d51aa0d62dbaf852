import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** Why a login was refused (label `reason`). */
export type LoginRefusal =
  | 'bad_credentials'
  | 'client_id_mismatch'
  /** This client id failed from this address and must wait (exponential back-off). */
  | 'backoff'
  /** This address failed too often, for any client ids, within its window. */
  | 'address_limited'
  | 'flapping'
  | 'store_unavailable'
  /** Development mode: an anonymous client asked for the client id of a registered credential. */
  | 'reserved_id'
  /** A CONNECT with a protocol level other than 3.1 / 3.1.1 (CONNACK 0x01). */
  | 'protocol_level'
/** Why a publish was dropped (label `reason`). */
export type PublishRefusal = 'not_authorized' | 'invalid_payload' | 'rate_limited' | 'qos_not_allowed'
/**
 * How a publish on a fleet topic broke the contract's QoS/retain rule (label `breach`): `retained` and
 * `not_retained` are corrected (the retain flag set as the contract says), `qos0` is accepted and
 * counted (a QoS handshake cannot be changed afterwards), `qos2` is refused.
 */
export type DeliveryBreach = 'retained' | 'not_retained' | 'qos0' | 'qos2'

/** The broker's Prometheus metrics, in a registry of its own (several brokers may share a process). */
export class BrokerMetrics {
  readonly registry = new Registry()
  readonly clients = new Gauge({
    name: 'lln_broker_clients_connected',
    help: 'Connected clients by role',
    labelNames: ['role'],
    registers: [this.registry],
  })
  readonly messagesIn = new Counter({
    name: 'lln_broker_messages_in_total',
    help: 'Publishes accepted from clients, by topic kind',
    labelNames: ['kind'],
    registers: [this.registry],
  })
  readonly messagesOut = new Counter({
    name: 'lln_broker_messages_out_total',
    help: 'Messages delivered to subscribers, by topic kind',
    labelNames: ['kind'],
    registers: [this.registry],
  })
  readonly loginsRefused = new Counter({
    name: 'lln_broker_logins_refused_total',
    help: 'Refused CONNECTs, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  })
  readonly loginsExempted = new Counter({
    name: 'lln_broker_logins_address_exempt_total',
    help: 'Logins checked although their address was over its failure limit, because it is listed as exempt',
    registers: [this.registry],
  })
  readonly takeovers = new Counter({
    name: 'lln_broker_client_takeovers_total',
    help: 'Connections that replaced a live connection with the same client id',
    registers: [this.registry],
  })
  readonly publishesRefused = new Counter({
    name: 'lln_broker_publishes_refused_total',
    help: 'Publishes dropped, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  })
  readonly subscribesRefused = new Counter({
    name: 'lln_broker_subscribes_refused_total',
    help: 'Subscriptions refused (SUBACK 0x80)',
    registers: [this.registry],
  })
  readonly invalidPayloads = new Counter({
    name: 'lln_broker_invalid_payloads_total',
    help: 'Payloads that failed protocol validation, by error code',
    labelNames: ['code'],
    registers: [this.registry],
  })
  readonly deliveryBreaches = new Counter({
    name: 'lln_broker_delivery_breaches_total',
    help: 'Publishes on fleet topics against the QoS/retain rule, by topic kind and breach (retain corrected, qos0 counted, qos2 refused)',
    labelNames: ['kind', 'breach'],
    registers: [this.registry],
  })
  readonly rateLimited = new Counter({
    name: 'lln_broker_rate_limited_total',
    help: 'Publishes dropped by the per-client token bucket',
    registers: [this.registry],
  })
  readonly packetsTooLarge = new Counter({
    name: 'lln_broker_packets_too_large_total',
    help: 'Connections closed for a packet over the maximum size',
    registers: [this.registry],
  })
  readonly bridgePublished = new Counter({
    name: 'lln_broker_bridge_published_total',
    help: 'Messages acknowledged by JetStream',
    labelNames: ['kind'],
    registers: [this.registry],
  })
  readonly bridgeDuplicates = new Counter({
    name: 'lln_broker_bridge_duplicates_total',
    help: 'Messages JetStream reported as duplicates (same message id)',
    registers: [this.registry],
  })
  readonly unbridged = new Counter({
    name: 'lln_broker_bridge_unbridged_total',
    help: 'Messages that could not be bridged, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  })
  readonly bridgeDeferred = new Counter({
    name: 'lln_broker_bridge_deferred_total',
    help: 'Messages accepted while NATS was unreachable (buffered for later)',
    registers: [this.registry],
  })
  readonly bridgePending = new Gauge({
    name: 'lln_broker_bridge_pending',
    help: 'Messages waiting to be bridged',
    registers: [this.registry],
  })
  readonly bridgeConnected = new Gauge({
    name: 'lln_broker_bridge_connected',
    help: '1 when the NATS connection is up',
    registers: [this.registry],
  })
  readonly bridgeLag = new Histogram({
    name: 'lln_broker_bridge_lag_seconds',
    help: 'Time from MQTT accept to JetStream ack',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    registers: [this.registry],
  })

  // Plain tallies on the hot path (authorizeForward runs once per subscriber); folded into the
  // counters by flush() (which `text()` runs before every scrape), so a delivery costs one Map
  // update, not a label hash.
  readonly #in = new Map<string, number>()
  readonly #out = new Map<string, number>()

  /** The exposition text for `/metrics`, with the tallies folded in. */
  async text(): Promise<string> {
    this.flush()
    return this.registry.metrics()
  }

  /** Fold the hot-path tallies into the counters. */
  flush(): void {
    for (const [tally, counter] of [
      [this.#in, this.messagesIn],
      [this.#out, this.messagesOut],
    ] as const) {
      for (const [kind, n] of tally) counter.inc({ kind }, n)
      tally.clear()
    }
  }

  /** Count one accepted publish. */
  countIn(kind: string): void {
    this.#in.set(kind, (this.#in.get(kind) ?? 0) + 1)
  }

  /** Count one delivery to a subscriber. */
  countOut(kind: string): void {
    this.#out.set(kind, (this.#out.get(kind) ?? 0) + 1)
  }
}
