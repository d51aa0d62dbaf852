import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { KeyObject } from 'node:crypto'
import { Redis } from 'ioredis'
import { pino, type Logger } from 'pino'
import type { FastifyInstance } from 'fastify'
import type { Decoded } from '@liquid-edge/protocol'
import { systemClock, type Clock } from './clock.js'
import type { Config } from './config.js'
import { createKeys } from './keys.js'
import { Metrics } from './api/metrics.js'
import { buildServer } from './api/server.js'
import { createTelemetry, type Telemetry } from './telemetry/telemetry.js'
import { TokenStore } from './api/tokens.js'
import { FsArtifactStore, type ArtifactStore } from './models/artifact-store.js'
import { ModelStore } from './models/model-store.js'
import { loadPublisherKeys } from './models/verify.js'
import { CommandClient } from './mqtt/commands.js'
import { MqttLink } from './mqtt/link.js'
import { LiveStore } from './registry/live.js'
import { Registry } from './registry/registry.js'
import { RolloutEngine } from './rollout/engine.js'
import { Executor } from './rollout/executor.js'
import type { Signal } from './rollout/observations.js'
import { RolloutRepo } from './rollout/repo.js'
import { RolloutService } from './rollout/service.js'
import { createRunbook } from './runbook/runbook.js'
import { TERMINAL_STATES, type Rollout } from './rollout/types.js'

export interface ControllerOptions {
  config: Config
  logger?: Logger
  clock?: Clock
  /** Replaces the filesystem artifact store. */
  artifacts?: ArtifactStore
  /** Replaces `config.publisherKeys`. */
  publisherKeys?: readonly KeyObject[]
  /** Telemetry-rule verdicts per rollout (issue #7 plugs in here). */
  signals?: (rollout: Rollout) => Promise<Signal[]>
  /** Instance id (lease owner). @defaultValue a random id */
  instanceId?: string
}

export interface ControllerEvents {
  transitioned: [Rollout]
  error: [Error]
}

/** A running controller: registry, model store, rollout engine, HTTP API. */
export class Controller extends EventEmitter<ControllerEvents> {
  private closing: Promise<void> | undefined
  constructor(
    readonly config: Config,
    readonly url: string,
    readonly instanceId: string,
    readonly registry: Registry,
    readonly models: ModelStore,
    readonly rollouts: RolloutService,
    readonly repo: RolloutRepo,
    readonly engine: RolloutEngine,
    readonly live: LiveStore,
    readonly tokens: TokenStore,
    readonly commands: CommandClient,
    private readonly parts: { redis: Redis; link: MqttLink; server: FastifyInstance; telemetry?: Telemetry },
  ) {
    super()
  }

  close(): Promise<void> {
    return (this.closing ??= (async () => {
      await this.parts.server.close()
      await this.parts.telemetry?.close()
      await this.engine.close()
      await this.parts.link.close()
      await this.parts.redis.quit()
    })())
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** Telemetry windows, rules and alerts (#7). */
  get telemetry(): Telemetry | undefined {
    return this.parts.telemetry
  }
}

function ingest(o: { live: LiveStore; repo: RolloutRepo; engine: () => RolloutEngine; metrics: Metrics; logger: Logger }) {
  return async (m: Decoded): Promise<void> => {
    const msg = m.message
    if (msg.type === 'status') await o.live.applyStatus(msg.deviceId, msg.body, msg.ts)
    else if (msg.type === 'telemetry') await o.live.applyTelemetry(msg.deviceId, msg.ts, msg.body.windowMs)
    else if (msg.type === 'reported') {
      const body = msg.body
      await o.live.applyReported(msg.deviceId, body, msg.ts)
      if (body.rolloutId !== null) await o.engine().nudge(body.rolloutId)
    }
  }
}

/** Start a controller: connects Redis and MQTT, starts the engine and the HTTP API. */
export async function createController(options: ControllerOptions): Promise<Controller> {
  const { config } = options
  const logger = options.logger ?? pino({ level: 'silent' })
  const clock = options.clock ?? systemClock
  const instanceId = options.instanceId ?? `ctl-${randomUUID().slice(0, 8)}`
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null })
  const keys = createKeys(config.prefix)
  const link = await MqttLink.connect({
    url: config.mqttUrl,
    root: config.root,
    // An authenticating broker requires client id = username; each replica needs its own credential.
    clientId: config.mqttUsername ?? `liquid-controller-${instanceId}`,
    username: config.mqttUsername,
    password: config.mqttPassword,
    logger,
  })
  const metrics = new Metrics()
  let publicUrl = config.publicUrl ?? ''
  const live = new LiveStore(redis, keys)
  const registry = new Registry({
    redis,
    keys,
    credentialPrefix: config.credentialPrefix ?? config.prefix,
    clock,
    clearRetained: (id) => link.clearRetained(id),
  })
  const repo = new RolloutRepo(redis, keys)
  const models = new ModelStore({
    redis,
    keys,
    clock,
    artifacts: options.artifacts ?? new FsArtifactStore(config.storeDir),
    publisherKeys: options.publisherKeys ?? loadPublisherKeys(config.publisherKeys),
    publicUrl: () => publicUrl,
    usedBy: async (rec) => {
      const active = await Promise.all((await repo.activeIds()).map((id) => repo.find(id)))
      const r = active.find((x) => x !== null && !TERMINAL_STATES.has(x.state) && x.model.sha256 === rec.sha256)
      if (r !== undefined && r !== null) return `rollout ${r.id} is ${r.state}`
      const desired = await redis.hvals(keys.desired)
      const n = desired.filter((d) => d.includes(rec.sha256)).length
      return n > 0 ? `${n} devices are assigned it` : null
    },
  })
  let engine: RolloutEngine | null = null
  const getEngine = (): RolloutEngine => {
    if (engine === null) throw new Error('engine not started')
    return engine
  }
  const rollouts = new RolloutService({ repo, registry, live, models, link, clock, engine: getEngine })
  const executor = new Executor({
    repo,
    link,
    models,
    logger,
    now: () => clock.now(),
    onDesiredWrite: () => {
      metrics.desiredWrites.inc()
    },
    rollbackRollout: async (id, _reason) => {
      await rollouts.rollback({ rolloutId: id, toPrevious: true }, `${id}.rollback`)
    },
  })
  // Telemetry windows, rules and alerts (#7).
  const telemetry = createTelemetry({
    config,
    redis,
    keys,
    repo,
    live,
    clock,
    logger,
    registry: metrics.registry,
    publishFleetEvent: (b) => link.publishFleetEvent(b),
    nudge: (id) => getEngine().nudge(id),
  })
  const ctl: { c: Controller | null } = { c: null }
  engine = new RolloutEngine({
    connection: redis,
    bullPrefix: config.bullPrefix,
    executor,
    clock,
    logger,
    instanceId,
    tickMs: config.tickMs,
    leaseMs: config.leaseMs,
    repo,
    registry,
    live,
    signals: options.signals ?? ((r) => telemetry.signals(r)),
    onTransition: (r) => ctl.c?.emit('transitioned', r),
  })
  const onMessage = ingest({ live, repo, engine: getEngine, metrics, logger })
  link.on('message', (m) => {
    onMessage(m).catch((err: unknown) => {
      logger.warn({ err }, 'ingest failed')
    })
  })
  link.on('message', (m) => {
    telemetry.onMessage(m)
  })
  link.on('invalid', (error, topic) => {
    telemetry.onInvalid(error, topic)
  })
  link.on('invalid', (error, topic) => {
    metrics.invalidMessages.inc({ code: error.code })
    logger.debug({ code: error.code, topic }, 'invalid message dropped')
  })
  const tokens = new TokenStore(redis, keys)
  if (config.adminToken !== undefined) await tokens.install(config.adminToken, 'bootstrap-admin', ['admin'])
  const commands = new CommandClient(link)
  // The runbook verbs (#9): command fan-out over targets, gathered and judged.
  const runbook = createRunbook({ link, registry, live, models, clock, logger })
  await engine.start()
  await telemetry.start()
  const server = await buildServer({
    extraRoutes: [...telemetry.routes, ...runbook.routes],
    registry,
    models,
    rollouts,
    repo,
    live,
    tokens,
    commands,
    metrics,
    logger,
    artifacts: options.artifacts ?? new FsArtifactStore(config.storeDir),
  })
  const address = await server.listen({ host: config.httpHost, port: config.httpPort })
  const url = address.replace('[::1]', '127.0.0.1')
  if (publicUrl === '') publicUrl = url
  metrics.attach({ redis, keys })
  const c = new Controller(config, url, instanceId, registry, models, rollouts, repo, engine, live, tokens, commands, {
    redis,
    link,
    server,
    telemetry,
  })
  ctl.c = c
  return c
}
