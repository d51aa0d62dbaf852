import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { loadPublisherKeys } from '@liquid-edge/package'
import { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { brokerUrls } from '@liquid-edge/config'
import { brokerRoutes } from './api/broker-routes.js'
import { Metrics } from './api/metrics.js'
import { buildServer } from './api/server.js'
import { TokenStore } from './api/tokens.js'
import { systemClock, type Clock } from './clock.js'
import { runConformance, type ConformanceOptions } from './conformance/engine.js'
import { conformanceRoutes } from './conformance/routes.js'
import { apiLimits, type Config } from './config.js'
import { defaultConsoleDir } from './console/assets.js'
import { consoleRoutes } from './console/console-routes.js'
import { LiveHub } from './console/live-hub.js'
import { modelNeeds } from './desired/needed-models.js'
import { createReconciliation } from './desired/reconciliation.js'
import { createKeys, type Keys } from './keys.js'
import { FsArtifactStore } from './models/artifact-store.js'
import { ModelStore } from './models/model-store.js'
import { CommandClient } from './mqtt/commands.js'
import { ingest } from './mqtt/ingest.js'
import { MqttLink } from './mqtt/link.js'
import { LiveStore, slotOf } from './registry/live.js'
import { Registry } from './registry/registry.js'
import { StatusTrust } from './registry/status-trust.js'
import type { Resources } from './resources.js'
import { RolloutEngine } from './rollout/engine.js'
import { Executor } from './rollout/executor.js'
import { LateOutcomes } from './rollout/late-outcomes.js'
import type { Signal } from './rollout/observations.js'
import { RolloutRepo } from './rollout/repo.js'
import { RolloutService } from './rollout/service.js'
import { TERMINAL_STATES, type Rollout } from './rollout/types.js'
import { createRunbook } from './runbook/runbook.js'
import { WindowTelemetryReader } from './runbook/tracker.js'
import { createTelemetry } from './telemetry/telemetry.js'
import { cohortOf } from './telemetry/window-store.js'
import type { ArtifactStore } from './models/artifact-store.js'
import type { KeyObject } from 'node:crypto'

/** What a start needs from its caller. */
export interface StartOptions {
  config: Config
  clock?: Clock | undefined
  artifacts?: ArtifactStore | undefined
  publisherKeys?: readonly KeyObject[] | undefined
  signals?: ((rollout: Rollout) => Promise<Signal[]>) | undefined
  instanceId?: string | undefined
}

/** What the start steps share. */
export interface Core {
  options: StartOptions
  config: Config
  logger: Logger
  clock: Clock
  instanceId: string
  resources: Resources
  redis: Redis
  keys: Keys
  link: MqttLink
  metrics: Metrics
}

/** Step 1: Redis, then the broker. */
export async function connect(options: StartOptions, logger: Logger, resources: Resources): Promise<Core> {
  const { config } = options
  const instanceId = options.instanceId ?? `ctl-${randomUUID().slice(0, 8)}`
  const redis = resources.add(
    'redis',
    new Redis(config.redisUrl, { maxRetriesPerRequest: null, connectionName: `liquid-controller:${instanceId}` }),
    // A client still connecting would wait for Redis to quit: cut it instead.
    async (r) => {
      if (r.status === 'ready') await r.quit()
      else r.disconnect()
    },
  )
  // A command in flight when the connection drops (or closes) rejects where it was sent; this only logs.
  redis.on('error', (err) => {
    logger.warn({ err }, 'redis connection error')
  })
  const link = await resources.open(
    'mqtt',
    () =>
      MqttLink.connect({
        urls: brokerUrls(config.mqttUrl),
        root: config.root,
        // Replicas share one credential, each under its own client id (`<username>:<replica>`, which
        // liquid-broker accepts for a controller's credential): adding one is no manual step.
        clientId: config.mqttUsername === undefined ? `liquid-controller-${instanceId}` : `${config.mqttUsername}:${instanceId}`,
        username: config.mqttUsername,
        password: config.mqttPassword,
        logger,
      }),
    (l) => l.close(),
  )
  const clock = options.clock ?? systemClock
  return { options, config, logger, clock, instanceId, resources, redis, keys: createKeys(config.prefix), link, metrics: new Metrics() }
}

/** Step 2: the stores over Redis (they share its connection) and the desired-state reconciler. */
export function stores(core: Core) {
  const { config, redis, keys, clock, link, options, logger, instanceId, metrics, resources } = core
  const live = new LiveStore(redis, keys)
  const registry = new Registry({
    redis,
    keys,
    credentialPrefix: config.credentialPrefix ?? config.prefix,
    clock,
    clearRetained: (id) => link.clearRetained(id),
  })
  const repo = new RolloutRepo(redis, keys)
  const artifacts = options.artifacts ?? new FsArtifactStore(config.storeDir)
  const url = { public: config.publicUrl ?? '' }
  const activeRollouts = async (): Promise<Rollout[]> =>
    (await Promise.all((await repo.activeIds()).map((id) => repo.find(id)))).filter(
      (x): x is Rollout => x !== null && !TERMINAL_STATES.has(x.state),
    )
  const models = new ModelStore({
    redis,
    keys,
    clock,
    artifacts,
    publisherKeys: options.publisherKeys ?? loadPublisherKeys(config.publisherKeys),
    publicUrl: () => url.public,
    // Every version a device may need stays: its model, the one it would go back to, its fallback.
    usedBy: (rec) => modelNeeds({ redis, keys, activeRollouts }, rec),
  })
  const reconciliation = createReconciliation({ redis, keys, link, models, live, clock, logger, instanceId, config, metrics })
  resources.add('reconciler', reconciliation.reconciler, (r) => r.close())
  return { live, registry, repo, artifacts, models, reconciliation, url, tokens: new TokenStore(redis, keys) }
}
export type Stores = ReturnType<typeof stores>

/** Step 3: the rollout engine, the runbook's jobs and telemetry (BullMQ queues and workers), wired to MQTT and started. */
export async function engines(core: Core, s: Stores, emit: (r: Rollout) => void) {
  const { config, redis, keys, clock, logger, link, metrics, resources, options } = core
  const { desired, commands } = s.reconciliation
  const rollouts: RolloutService = new RolloutService({ ...s, link, clock, engine: () => engine, defaultTrialMs: config.rolloutTrialMs })
  const executor = new Executor({
    ...{ repo: s.repo, link, models: s.models, desired, commands, logger, now: () => clock.now() },
    rollbackRollout: async (id) => {
      await rollouts.rollback({ rolloutId: id, toPrevious: true }, `${id}.rollback`)
    },
  })
  const engine: RolloutEngine = resources.add(
    'rollout engine',
    new RolloutEngine({
      ...{ connection: redis, bullPrefix: config.bullPrefix, executor, clock, logger, instanceId: core.instanceId },
      ...{ tickMs: config.tickMs, leaseMs: config.leaseMs, repo: s.repo, registry: s.registry, live: s.live, onTransition: emit },
      // Telemetry is built next; the engine asks for signals only once started.
      signals: options.signals ?? ((r) => telemetry.signals(r)),
    }),
    (e) => e.close(),
  )
  const telemetry = resources.add(
    'telemetry',
    createTelemetry({
      ...{ config, redis, keys, repo: s.repo, live: s.live, clock, logger, registry: metrics.registry, instanceId: core.instanceId },
      publishFleetEvent: (b) => link.publishFleetEvent(b),
      brokerConnected: () => link.connected,
      nudge: (id) => engine.nudge(id),
      devicesOf: async (target) => {
        const ids = (await s.registry.resolve(target)).devices.map((x) => x.id)
        const views = await s.live.views(ids)
        return ids.map((id, i) => {
          const model = slotOf(views[i]?.reported ?? null, 'active', 'trial')
          return { id, active: model === null ? null : cohortOf(model) }
        })
      },
    }),
    (t) => t.close(),
  )
  const runbook = resources.add(
    'runbook',
    createRunbook({
      ...{ link, registry: s.registry, live: s.live, models: s.models, clock, logger },
      // The runbook reads device telemetry from the windows the rules read: nothing per message in memory.
      telemetry: new WindowTelemetryReader(telemetry.windows, s.live, clock),
      jobs: { connection: redis, bullPrefix: config.bullPrefix, prefix: config.prefix },
    }),
    (r) => r.close(),
  )
  listen(core, { ...s, engine, late: new LateOutcomes({ repo: s.repo, live: s.live, clock }) })
  link.on('message', (m) => {
    telemetry.onMessage(m)
  })
  link.on('invalid', (error, topic) => {
    telemetry.onInvalid(error, topic)
  })
  link.on('reconnected', () => {
    telemetry.reconnected()
  })
  // Only now that device messages have their listeners: the retained states come at once.
  await link.subscribe()
  await engine.start()
  await telemetry.start()
  await runbook.start()
  return { engine, telemetry, runbook, rollouts }
}
export type Engines = Awaited<ReturnType<typeof engines>>

/** Every device message to the live view, the engine and the reconciler; invalid ones counted. */
function listen(core: Core, o: Stores & { engine: RolloutEngine; late: LateOutcomes }): void {
  const { link, metrics, logger, clock } = core
  const statuses = new StatusTrust({ live: o.live, metrics, logger, clock })
  const onMessage = ingest({ ...o, statuses, clock })
  link.on('reconnected', () => {
    o.reconciliation.reconciler.reconnected()
  })
  link.on('message', (m) => {
    onMessage(m).catch((err: unknown) => {
      logger.warn({ err }, 'ingest failed')
    })
  })
  link.on('invalid', (error, topic) => {
    metrics.invalidMessages.inc({ code: error.code })
    logger.debug({ code: error.code, topic }, 'invalid message dropped')
  })
}

/** Step 4: the HTTP API (with the console, runbook and conformance routes), listening. */
export async function serve(core: Core, s: Stores, e: Engines) {
  const { config, redis, keys, clock, logger, link, metrics, resources } = core
  // The web console's live streams: one loop over Redis for every open tab.
  const hub = new LiveHub({
    redis,
    auditKey: keys.audit,
    logger,
    sources: {
      activeIds: () => s.repo.activeIds(),
      rollout: (id) => s.repo.find(id),
      ruleStates: (id) => e.telemetry.rules.states(id),
      tokenValid: async (token) => (await s.tokens.verify(token)) !== null,
    },
  })
  link.on('message', (m) => {
    if (m.message.type === 'status' || m.message.type === 'reported') hub.deviceChanged(m.message.deviceId)
  })
  const commands = new CommandClient(link)
  const conformance = (o: ConformanceOptions) =>
    runConformance({ ...s, link, clock, logger: logger.child({ component: 'conformance' }) }, o)
  const server = await resources.open(
    'http',
    () =>
      buildServer({
        extraRoutes: [
          ...e.telemetry.routes,
          ...e.runbook.routes,
          ...consoleRoutes({ ...s, hub }),
          ...conformanceRoutes(conformance),
          ...brokerRoutes({ registry: s.registry, root: config.root, mqttUsername: config.mqttUsername }),
        ],
        console: { hub, dir: config.consoleDir ?? defaultConsoleDir() },
        ...{ registry: s.registry, models: s.models, rollouts: e.rollouts, repo: s.repo, live: s.live, tokens: s.tokens },
        ...{ commands, metrics, logger, artifacts: s.artifacts, limits: apiLimits(config), uploadDir: join(config.storeDir, '.uploads') },
      }),
    (srv) => srv.close(),
  )
  const address = await server.listen({ host: config.httpHost, port: config.httpPort })
  return { url: address.replace('[::1]', '127.0.0.1'), commands, conformance }
}
