import { EventEmitter } from 'node:events'
import { randomUUID } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket } from 'aedes'
import { pino, type Logger } from 'pino'
import { createCodec, type Role } from '@liquid-edge/protocol'
import { createAuthenticate, identityOf, isReplicaOf } from './auth/authenticator.js'
import type { CredentialStore } from './auth/credential-store.js'
import { LoginLimiter, TakeoverGuard } from './auth/login-limiter.js'
import { openCredentialStore } from './auth/open-store.js'
import { NatsBridge, type BridgeState } from './bridge/nats-bridge.js'
import { systemClock, type Clock } from './clock.js'
import { effectiveAppTopics, parseConfig, type BrokerConfig, type BrokerConfigInput } from './config.js'
import { guardConnection } from './listeners/frame-guard.js'
import { startListeners, type ListenerPorts, type Listeners } from './listeners/listeners.js'
import { startOpsServer, type HealthReport, type OpsServer } from './ops/http.js'
import { BrokerMetrics, type LoginRefusal } from './ops/metrics.js'
import { createBackend, type Backend } from './persistence/persistence.js'
import { installConnackFirst } from './connack-first.js'
import { installExactDedupe } from './exact-dedupe.js'
import { installOverlapQos } from './delivery-qos.js'
import { AppTopics } from './policy/app-topics.js'
import { BrokerPolicy, type Refusal } from './policy/broker-policy.js'
import type { ClientSession, ClientStats } from './policy/session.js'

export interface BrokerOptions {
  /** Configuration; anything missing takes its default (see README). */
  config?: BrokerConfigInput
  /** Where credentials come from. @defaultValue the store `config.credentials` names */
  credentials?: CredentialStore
  /** @defaultValue a silent pino logger */
  logger?: Logger
  /** @defaultValue the system clock */
  clock?: Clock
}

/** Events of a running broker (past tense). */
export interface BrokerEvents {
  clientConnected: [{ clientId: string; role: Role }]
  clientDisconnected: [{ clientId: string; role: Role }]
  loginRefused: [{ clientId: string; reason: LoginRefusal }]
  /** A publish dropped or a subscription refused. */
  refused: [Refusal]
  error: [Error]
}

/** Listener ports actually bound (with `port: 0` in the config, the ones the OS chose). */
export interface BrokerPorts extends ListenerPorts {
  http?: number
}

type Parts = {
  aedes: Aedes
  listeners: Listeners
  ops: OpsServer | undefined
  backend: Backend
  bridge: NatsBridge | undefined
  store: CredentialStore
  ownsStore: boolean
  sessions: WeakMap<Client, ClientSession>
  stopWatching: () => void
}

/** A running Liquid Edge broker. Create it with {@link createBroker}. */
export class LiquidBroker extends EventEmitter<BrokerEvents> {
  readonly config: Readonly<BrokerConfig>
  readonly metrics: BrokerMetrics
  readonly logger: Logger
  #parts: Parts | undefined
  #closing: Promise<void> | undefined
  #ready = false

  /** @internal use {@link createBroker} */
  constructor(config: Readonly<BrokerConfig>, metrics: BrokerMetrics, logger: Logger) {
    super()
    this.config = config
    this.metrics = metrics
    this.logger = logger
  }

  /** @internal */
  attach(parts: Parts): void {
    this.#parts = parts
    this.#ready = true
  }

  #get(): Parts {
    if (this.#parts === undefined) throw new Error('broker is not started')
    return this.#parts
  }

  get id(): string {
    return this.#get().aedes.id
  }

  /** The underlying aedes instance (for server-side subscriptions and inspection). */
  get aedes(): Aedes {
    return this.#get().aedes
  }

  get ports(): BrokerPorts {
    const p = this.#get()
    return p.ops === undefined ? { ...p.listeners.ports } : { ...p.listeners.ports, http: p.ops.port }
  }

  get bridgeState(): BridgeState | 'off' {
    return this.#parts?.bridge?.state ?? 'off'
  }

  /** Counters of one connected client (accepted, dropped by reason, refused subscriptions). */
  clientStats(clientId: string): ClientStats | undefined {
    const p = this.#get()
    const client = liveClients(p.aedes)[clientId]
    return client === undefined ? undefined : p.sessions.get(client)?.stats
  }

  health(): HealthReport {
    const p = this.#parts
    return {
      live: this.#closing === undefined,
      ready: this.#ready,
      brokerId: p?.aedes.id ?? '',
      clients: p?.aedes.connectedClients ?? 0,
      persistence: this.config.persistence,
      bridge: this.bridgeState,
    }
  }

  /** Graceful shutdown: stop accepting, close clients (wills go out), drain the bridge, flush persistence. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  async #shutdown(): Promise<void> {
    this.#ready = false
    const p = this.#parts
    if (p === undefined) return
    p.listeners.stopAccepting()
    p.stopWatching()
    await Promise.all(
      Object.values(liveClients(p.aedes)).map(
        (c) =>
          new Promise<void>((resolve) => {
            c.close(() => {
              resolve()
            })
          }),
      ),
    )
    await p.bridge?.close(this.config.drainTimeoutMs)
    await p.backend.destroy()
    await new Promise<void>((resolve) => {
      p.aedes.close(() => {
        resolve()
      })
    })
    await Promise.race([p.listeners.closed(), delay(this.config.drainTimeoutMs)])
    await p.ops?.close()
    if (p.ownsStore) await p.store.close()
    this.logger.info({ brokerId: p.aedes.id }, 'broker closed')
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

function liveClients(aedes: Aedes): Record<string, Client> {
  return (aedes as unknown as { clients: Record<string, Client> }).clients
}

/**
 * Start a broker: persistence, hooks, listeners, `/health` + `/metrics`, and the NATS bridge
 * (in the background). Resolves when the listeners accept connections.
 * @throws {FleetError} `CONFIG_INVALID` for a bad configuration.
 */
export async function createBroker(options: BrokerOptions = {}): Promise<LiquidBroker> {
  const config = parseConfig(options.config ?? {})
  const logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'broker' })
  const clock = options.clock ?? systemClock
  const metrics = new BrokerMetrics()
  const broker = new LiquidBroker(config, metrics, logger)
  const ownsStore = options.credentials === undefined
  const store = options.credentials ?? openCredentialStore(config)
  const sessions = new WeakMap<Client, ClientSession>()
  const codec = createCodec({ root: config.root, maxBytes: config.limits.maxPayloadBytes })
  const bridge =
    config.nats.url === undefined
      ? undefined
      : new NatsBridge({
          ...config.nats,
          servers: config.nats.url,
          reconnectWaitMs: 1000,
          metrics,
          logger: logger.child({ component: 'bridge' }),
          clock,
        })
  const policy = new BrokerPolicy({
    codec,
    metrics,
    clock,
    logger,
    sessions,
    bridging: bridge !== undefined,
    onRefused: (r) => broker.emit('refused', r),
  })
  const backend = await createBackend(config, logger)
  const ref: { aedes?: Aedes } = {}
  const appTopics = new AppTopics(effectiveAppTopics(config), config.root)
  if (config.auth.allowAnonymous) {
    logger.warn({ host: config.host, appTopics: effectiveAppTopics(config) }, 'DEVELOPMENT MODE: anonymous MQTT clients may connect')
  }
  const authenticate = createAuthenticate({
    store,
    limiter: new LoginLimiter(config.auth, clock),
    takeovers: new TakeoverGuard(config.auth.takeoverLimit, config.auth.takeoverWindowMs, clock),
    metrics,
    logger,
    clock,
    root: config.root,
    sessions,
    rate: { ratePerSec: config.limits.publishRatePerSec, burst: config.limits.publishBurst },
    liveClient: (id) => (ref.aedes === undefined ? undefined : liveClients(ref.aedes)[id]),
    onRefused: (clientId, reason) => broker.emit('loginRefused', { clientId, reason }),
    allowAnonymous: config.auth.allowAnonymous,
    appTopics: appTopics.empty ? null : appTopics,
  })
  const aedes = await Aedes.createBroker({
    id: config.brokerId ?? randomUUID(),
    ...(backend.mq === undefined ? {} : { mq: backend.mq }),
    ...(backend.persistence === undefined ? {} : { persistence: backend.persistence }),
    drainTimeout: 20_000,
    authenticate,
    authorizePublish: policy.authorizePublish,
    authorizeSubscribe: policy.authorizeSubscribe,
    authorizeForward: policy.authorizeForward,
    published: (packet: AedesPublishPacket, _client: Client, cb: (err?: Error | null) => void) => {
      const item = bridge === undefined ? undefined : policy.bridgeItem(packet)
      if (item !== undefined && typeof packet.payload !== 'string') bridge?.enqueue(item, packet.payload)
      cb(null)
    },
  })
  ref.aedes = aedes
  installDropGate(aedes, policy)
  installConnackFirst(aedes)
  installExactDedupe(aedes)
  // Installed last, so it runs first at CONNECT: the dedupe filter judges each copy, then this routes it.
  installOverlapQos(aedes)
  // Controller replicas logged in under `<credential id>:<replica>`: few, looked through on a credential change.
  const replicas = new Set<Client>()
  watchClients(aedes, broker, sessions, replicas)
  const stopWatching = store.onChange((id) => void recheckCredential(id, { aedes, store, sessions, replicas, logger }))
  let listeners: Listeners
  let ops: OpsServer | undefined
  try {
    listeners = await startListeners(config, (conn: Duplex, req?: IncomingMessage) => {
      guardConnection(conn, config.limits.maxPacketBytes, {
        onTooLarge: () => {
          metrics.packetsTooLarge.inc()
        },
        onUnsupportedLevel: (level) => {
          metrics.loginsRefused.labels('protocol_level').inc()
          logger.info({ level }, 'CONNECT with an unsupported protocol level refused (CONNACK 0x01)')
        },
      })
      aedes.handle(conn, req)
    })
    ops = config.http.enabled
      ? await startOpsServer({ port: config.http.port, host: config.host, metrics, health: () => broker.health() })
      : undefined
  } catch (err) {
    stopWatching()
    await backend.destroy()
    await new Promise<void>((resolve) => {
      aedes.close(() => {
        resolve()
      })
    })
    if (ownsStore) await store.close()
    throw err
  }
  broker.attach({ aedes, listeners, ops, backend, bridge, store, ownsStore, sessions, stopWatching })
  bridge?.start()
  logger.info({ brokerId: aedes.id, ports: broker.ports, persistence: config.persistence, bridge: bridge !== undefined }, 'broker started')
  return broker
}

/** Refused packets are PUBACKed by aedes (no reconnect loop) and then stopped here, before storage or delivery. */
function installDropGate(aedes: Aedes, policy: BrokerPolicy): void {
  type PublishFn = (packet: PublishPacket, client: unknown, done?: (err?: Error) => void) => void
  const target = aedes as unknown as { publish: PublishFn }
  const original = target.publish.bind(aedes)
  target.publish = (packet, client, done) => {
    if (policy.isDropped(packet)) {
      const cb = typeof client === 'function' ? (client as () => void) : done
      cb?.()
      return
    }
    original(packet, client, done)
  }
}

function watchClients(aedes: Aedes, broker: LiquidBroker, sessions: WeakMap<Client, ClientSession>, replicas: Set<Client>): void {
  const counted = new WeakSet<Client>()
  aedes.on('clientReady', (client) => {
    const session = sessions.get(client)
    if (session === undefined) return
    counted.add(client)
    if (client.id !== session.identity.id) replicas.add(client)
    broker.metrics.clients.labels(session.identity.role).inc()
    broker.emit('clientConnected', { clientId: client.id, role: session.identity.role })
  })
  aedes.on('clientDisconnect', (client) => {
    const session = sessions.get(client)
    if (session === undefined || !counted.has(client)) return
    counted.delete(client)
    replicas.delete(client)
    broker.metrics.clients.labels(session.identity.role).dec()
    broker.emit('clientDisconnected', { clientId: client.id, role: session.identity.role })
  })
  aedes.on('clientError', (client, err) => {
    broker.logger.debug({ clientId: client.id, err: err.message }, 'client error')
  })
  aedes.on('connectionError', (_client, err) => {
    broker.logger.debug({ err: err.message }, 'connection error')
  })
}

/** A credential changed: disconnect a client whose credential is gone or replaced; refresh a gateway's children. */
async function recheckCredential(
  id: string,
  ctx: { aedes: Aedes; store: CredentialStore; sessions: WeakMap<Client, ClientSession>; replicas: Set<Client>; logger: Logger },
): Promise<void> {
  // The client with this id, and every controller replica logged in with it.
  const own = liveClients(ctx.aedes)[id]
  const clients = [...(own === undefined ? [] : [own]), ...[...ctx.replicas].filter((c) => isReplicaOf(c.id, id))]
  if (clients.length === 0) return
  const record = await ctx.store.get(id).catch(() => undefined)
  if (record === undefined) return // store unreachable: keep the client rather than guess
  for (const client of clients) {
    const session = ctx.sessions.get(client)
    if (session === undefined) continue
    if (record === null || record.hash !== session.credentialHash) {
      ctx.logger.info({ clientId: client.id, revoked: record === null }, 'credential changed; disconnecting client')
      client.close()
    } else session.setIdentity(identityOf(record))
  }
}
