import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { Decoded, DecodeError, FleetEventBody } from '@liquid-edge/protocol'
import type { RouteDef } from '../api/route.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { Keys } from '../keys.js'
import type { LiveStore } from '../registry/live.js'
import type { Signal } from '../rollout/observations.js'
import type { RolloutRepo } from '../rollout/repo.js'
import type { Rollout } from '../rollout/types.js'
import { RulesEngine } from '../rules/rules-engine.js'
import { RulesStore } from '../rules/rules-store.js'
import { EventSink } from '../rules/sinks.js'
import { TelemetryIngest } from './ingest.js'
import { NatsLink } from './nats-link.js'
import { registerTelemetryMetrics } from './telemetry-metrics.js'
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
  publishFleetEvent: (body: FleetEventBody) => Promise<void>
  nudge: (rolloutId: string) => Promise<void>
}

/**
 * Telemetry to decisions (#7): ingest into Redis windows, rules on BullMQ, alerts and audit,
 * Prometheus per cohort. The controller feeds it MQTT messages (or it reads JetStream when NATS
 * is configured) and asks it for `signals` each rollout tick.
 */
export class Telemetry {
  private closing: Promise<void> | undefined
  constructor(
    readonly windows: WindowStore,
    readonly ingest: TelemetryIngest,
    readonly rules: RulesStore,
    readonly engine: RulesEngine,
    readonly sink: EventSink,
    readonly routes: RouteDef[],
    private readonly nats: NatsLink | null,
  ) {}

  /** Feed a decoded MQTT message (ignored when telemetry comes from JetStream). */
  onMessage(m: Decoded): void {
    if (this.nats === null || m.message.type === 'status') this.ingest.onMessage(m)
  }

  onInvalid(_error: DecodeError, _topic: string): void {
    this.ingest.countInvalid()
  }

  signals(r: Rollout): Promise<Signal[]> {
    return this.engine.signals(r)
  }

  async start(): Promise<void> {
    await this.engine.start()
    this.nats?.start()
  }

  close(): Promise<void> {
    return (this.closing ??= (async () => {
      await this.engine.close()
      await this.nats?.close()
      await this.ingest.close()
    })())
  }
}

export function createTelemetry(o: TelemetryOptions): Telemetry {
  const { config, redis, logger, clock } = o
  const windows = new WindowStore(redis, config.prefix, config.telemetryBucketMs, config.telemetryRetentionMs)
  const ingest = new TelemetryIngest({ store: windows, clock, logger, flushMs: config.telemetryFlushMs })
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
  const sink = new EventSink({
    redis,
    auditKey: o.keys.audit,
    publishMqtt: o.publishFleetEvent,
    publishNats: nats === null ? undefined : (b) => nats.publishEvent(b),
    webhookUrl: config.alertWebhookUrl,
    logger,
  })
  const rules = new RulesStore(redis, config.prefix, o.keys.audit, config.rulesTimeScale)
  const states = async () => {
    const out = []
    for (const rolloutId of await o.repo.activeIds()) {
      const s = await rules.states(rolloutId)
      if (s !== null) out.push({ rolloutId, states: s })
    }
    return out
  }
  const { decisions } = registerTelemetryMetrics({ registry: o.registry, windows, counters: () => ingest.counters, states })
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
    nudge: o.nudge,
    onDecision: (action) => {
      decisions.inc({ action })
    },
  })
  const routes = telemetryRoutes({ redis, auditKey: o.keys.audit, repo: o.repo, windows, rules, counters: () => ingest.counters })
  return new Telemetry(windows, ingest, rules, engine, sink, routes, nats)
}
