import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/** Why a login was refused (label `reason`). */
export type LoginRefusal = 'bad_credentials' | 'client_id_mismatch' | 'rate_limited' | 'flapping' | 'store_unavailable'
/** Why a publish was dropped (label `reason`). */
export type PublishRefusal = 'not_authorized' | 'invalid_payload' | 'rate_limited'

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

  readonly #inByKind = new Map<string, Counter.Internal>()
  readonly #outByKind = new Map<string, Counter.Internal>()

  /** Count one accepted publish (bound children keep the hot path free of label hashing). */
  countIn(kind: string): void {
    bound(this.#inByKind, this.messagesIn, kind).inc()
  }

  countOut(kind: string): void {
    bound(this.#outByKind, this.messagesOut, kind).inc()
  }
}

function bound(cache: Map<string, Counter.Internal>, counter: Counter, kind: string): Counter.Internal {
  let child = cache.get(kind)
  if (child === undefined) {
    child = counter.labels(kind)
    cache.set(kind, child)
  }
  return child
}
