import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { Gauge, type Registry } from 'prom-client'
import type { Decoded, DecodeError, FleetEventBody } from '@liquid-edge/protocol'
import type { RouteDef } from '../api/route.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import { Duty } from '../duty.js'
import type { Keys } from '../keys.js'
import type { LiveStore } from '../registry/live.js'
import type { Signal } from '../rollout/observations.js'
import type { RolloutRepo } from '../rollout/repo.js'
import type { Rollout } from '../rollout/types.js'
import { RulesEngine } from '../rules/rules-engine.js'
import type { RuleSet } from '../rules/rule.js'
import { RulesStore } from '../rules/rules-store.js'
import { thresholdRoutes } from '../rules/threshold-routes.js'
import { ThresholdsStore, withThresholds } from '../rules/thresholds.js'
import { EventSink } from '../rules/sinks.js'
import { TelemetryIngest } from './ingest.js'
import { Listener, ListeningClock } from './listening.js'
import { NatsLink } from './nats-link.js'
import { registerTelemetryMetrics } from './telemetry-metrics.js'
import type { TargetDevice } from './target-cohorts.js'
import { telemetryRoutes } from './telemetry-routes.js'
import { WindowStore } from './window-store.js'

export interface TelemetryOptions {
  config: Config
  redis: Redis
  keys: Keys
  repo: RolloutRepo
  live: LiveStore
  clock: Clock
  logger: Logger
  registry: Registry
  /** This controller replica (the holder of the ingest duty). */
  instanceId: string
  publishFleetEvent: (body: FleetEventBody) => Promise<void>
  nudge: (rolloutId: string) => Promise<void>
  /** The devices a target names and the model each runs now (for telemetry filtered by target). */
  devicesOf: (target: string) => Promise<TargetDevice[]>
  /** Whether this replica's broker session is up now: while it is down the fleet is not heard. */
  brokerConnected: () => boolean
}

/**
 * Telemetry to decisions: ingest into Redis windows, rules on BullMQ, alerts and audit,
 * Prometheus per cohort. The controller feeds it MQTT messages (or it reads JetStream when NATS
 * is configured) and asks it for `signals` each rollout tick.
 */
export class Telemetry {
  private closing: Promise<void> | undefined
  private beating: NodeJS.Timeout | null = null
  private readonly listener: Listener

  constructor(
    readonly windows: WindowStore,
    readonly ingest: TelemetryIngest,
    readonly rules: RulesStore,
    readonly engine: RulesEngine,
    readonly sink: EventSink,
    readonly routes: RouteDef[],
    private readonly nats: NatsLink | null,
    /** Who folds MQTT telemetry (null with JetStream, whose consumer splits it across replicas). */
    readonly duty: Duty | null,
    private readonly listening: ListeningClock,
    private readonly brokerConnected: () => boolean,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.listener = new Listener(listening, () => clock.now())
  }

  /** The broker session came back: what was published while it was down was never heard. */
  reconnected(): void {
    this.listener.break()
  }

  /** Say in Redis that the fleet is being heard, while this replica folds telemetry and its broker session is up. */
  private beat(): Promise<void> {
    return this.listener.beat(this.duty?.held !== false && this.brokerConnected())
  }

  /**
   * Feed a decoded MQTT message (telemetry is ignored when it comes from JetStream). Every replica
   * receives every MQTT message and folding adds up: only the holder of the ingest duty folds
   * telemetry. Crash events and statuses are recorded by every replica (they overwrite, not add).
   */
  onMessage(m: Decoded): void {
    if (this.nats !== null && m.message.type !== 'status') return
    if (m.message.type === 'telemetry' && this.duty?.held === false) {
      this.ingest.counters.standby++
      return
    }
    this.ingest.onMessage(m)
  }

  onInvalid(_error: DecodeError, _topic: string): void {
    this.ingest.countInvalid()
  }

  signals(r: Rollout): Promise<Signal[]> {
    return this.engine.signals(r)
  }

  async start(): Promise<void> {
    await this.duty?.start()
    await this.beat()
    this.beating = setInterval(() => {
      this.beat().catch((err: unknown) => {
        this.logger.warn({ err }, 'listening beat not written')
      })
    }, this.listening.beatMs)
    await this.engine.start()
    this.nats?.start()
  }

  close(): Promise<void> {
    return (this.closing ??= (async () => {
      if (this.beating !== null) clearInterval(this.beating)
      await this.engine.close()
      await this.nats?.close()
      await this.ingest.close()
      await this.duty?.close()
    })())
  }
}

export function createTelemetry(o: TelemetryOptions): Telemetry {
  const { config, redis, logger, clock } = o
  const windows = new WindowStore(redis, config.prefix, config.telemetryBucketMs, config.telemetryRetentionMs)
  const ingest = new TelemetryIngest({
    ...{ store: windows, clock, logger, flushMs: config.telemetryFlushMs },
    live: (latest) => o.live.applyTelemetry(latest),
  })
  const nats =
    config.natsUrl === undefined
      ? null
      : new NatsLink({
          servers: config.natsUrl,
          stream: config.natsStream,
          subjectPrefix: config.natsSubjectPrefix,
          root: config.root,
          ingest,
          redis,
          prefix: config.prefix,
          logger,
        })
  const dutyHeld = new Gauge({
    name: 'lln_controller_duty_held',
    help: 'Whether this controller replica holds a duty done by one replica at a time (1 = yes)',
    labelNames: ['duty'],
    registers: [o.registry],
  })
  const duty =
    nats === null
      ? new Duty({
          ...{ redis, key: o.keys.duty('telemetry-ingest'), name: 'telemetry-ingest', owner: o.instanceId, ttlMs: config.dutyLeaseMs },
          logger,
          onChange: (held) => {
            dutyHeld.set({ duty: 'telemetry-ingest' }, held ? 1 : 0)
          },
        })
      : null
  if (duty !== null) dutyHeld.set({ duty: 'telemetry-ingest' }, 0)
  const sink = new EventSink({
    redis,
    auditKey: o.keys.audit,
    publishMqtt: o.publishFleetEvent,
    publishNats: nats === null ? undefined : (b) => nats.publishEvent(b),
    webhookUrl: config.alertWebhookUrl,
    logger,
  })
  const thresholds = new ThresholdsStore(redis, config.prefix)
  const ids = async (target: string) => (await o.devicesOf(target)).map((x) => x.id)
  // A new rollout's rules judge against the monitoring thresholds saved for its devices and model.
  const initial = async (rolloutId: string, defaults: RuleSet): Promise<RuleSet | null> => {
    const r = await o.repo.find(rolloutId)
    if (r?.kind !== 'deploy') return null
    const rec = await thresholds.match(r.model.name, r.devices ?? (await ids(r.target ?? '')), ids)
    return rec === null ? null : withThresholds(defaults, rec, rec.basis)
  }
  const rules = new RulesStore(redis, config.prefix, o.keys.audit, config.rulesTimeScale, initial)
  const states = async () => {
    const out = []
    for (const rolloutId of await o.repo.activeIds()) {
      const s = await rules.states(rolloutId)
      if (s !== null) out.push({ rolloutId, states: s })
    }
    return out
  }
  const { decisions } = registerTelemetryMetrics({ registry: o.registry, windows, counters: () => ingest.counters, states })
  // Beats a few times per duty lease: a dead listener's silence stops growing within one beat.
  const listening = new ListeningClock(
    redis,
    `${o.keys.duty('telemetry-ingest')}:listening`,
    Math.min(1000, Math.max(100, Math.floor(config.dutyLeaseMs / 3))),
  )
  const engine = new RulesEngine({
    connection: redis,
    bullPrefix: config.bullPrefix,
    store: rules,
    sink,
    clock,
    logger,
    evalMs: config.rulesEvalMs,
    dryRun: config.rulesDryRun,
    repo: o.repo,
    live: o.live,
    windows,
    listening,
    reconnectGraceMs: config.reconnectGraceMs,
    nudge: o.nudge,
    onDecision: (action) => {
      decisions.inc({ action })
    },
  })
  const routes = telemetryRoutes({
    redis,
    devicesOf: o.devicesOf,
    auditKey: o.keys.audit,
    repo: o.repo,
    windows,
    rules,
    counters: () => ingest.counters,
  }).concat(thresholdRoutes({ thresholds, rules, repo: o.repo, devicesOf: ids }))
  return new Telemetry(windows, ingest, rules, engine, sink, routes, nats, duty, listening, o.brokerConnected, clock, logger)
}
