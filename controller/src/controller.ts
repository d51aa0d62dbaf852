import { EventEmitter } from 'node:events'
import type { KeyObject } from 'node:crypto'
import { pino, type Logger } from 'pino'
import type { Clock } from './clock.js'
import type { Config } from './config.js'
import type { ConformanceOptions } from './conformance/engine.js'
import type { ConformanceReport } from './conformance/report.js'
import type { DesiredReconciler } from './desired/reconciler.js'
import type { TokenStore } from './api/tokens.js'
import type { ArtifactStore } from './models/artifact-store.js'
import type { ModelStore } from './models/model-store.js'
import type { CommandClient } from './mqtt/commands.js'
import type { LiveStore } from './registry/live.js'
import type { Registry } from './registry/registry.js'
import { Resources, startOrClose } from './resources.js'
import type { RolloutEngine } from './rollout/engine.js'
import type { Signal } from './rollout/observations.js'
import type { RolloutRepo } from './rollout/repo.js'
import type { RolloutService } from './rollout/service.js'
import type { Rollout } from './rollout/types.js'
import { connect, engines, serve, stores } from './start-steps.js'
import type { Telemetry } from './telemetry/telemetry.js'

export interface ControllerOptions {
  config: Config
  logger?: Logger
  clock?: Clock
  /** Replaces the filesystem artifact store. */
  artifacts?: ArtifactStore
  /** Replaces `config.publisherKeys`. */
  publisherKeys?: readonly KeyObject[]
  /** Telemetry-rule verdicts per rollout. @defaultValue the telemetry rules */
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
    private readonly parts: {
      resources: Resources
      telemetry: Telemetry
      conformance: (o: ConformanceOptions) => Promise<ConformanceReport>
      reconciler: DesiredReconciler
    },
  ) {
    super()
  }

  /**
   * Drive one registered device through the device contract (docs/device-contract.md) and report
   * each check with its clause — what `POST /v1/conformance` and `liquid-lln conformance` run.
   */
  conformance(options: ConformanceOptions): Promise<ConformanceReport> {
    return this.parts.conformance(options)
  }

  /** Close the HTTP API, telemetry, the runbook's jobs, the rollout engine, the reconciler, MQTT and Redis: the reverse of their start. Idempotent. */
  close(): Promise<void> {
    return this.parts.resources.close()
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** Telemetry windows, rules and alerts. */
  get telemetry(): Telemetry {
    return this.parts.telemetry
  }

  /** The desired-state reconciler (full passes, periodic steps). */
  get reconciler(): DesiredReconciler {
    return this.parts.reconciler
  }
}

/**
 * Start a controller: Redis, MQTT, the stores and the reconciler, the rollout engine, the runbook's
 * jobs and telemetry, the HTTP API — each registered as it opens, so that a step that fails closes
 * the ones before it, in reverse.
 */
export async function createController(options: ControllerOptions): Promise<Controller> {
  const logger = options.logger ?? pino({ level: 'silent' })
  const resources = new Resources(logger)
  return startOrClose(resources, async () => {
    const core = await connect(options, logger, resources)
    const s = stores(core)
    const ctl: { c: Controller | null } = { c: null }
    const e = await engines(core, s, (r) => ctl.c?.emit('transitioned', r))
    if (core.config.adminToken !== undefined) await s.tokens.install(core.config.adminToken, 'bootstrap-admin', ['admin'])
    const http = await serve(core, s, e)
    if (s.url.public === '') s.url.public = http.url
    core.metrics.attach({ redis: core.redis, keys: core.keys })
    // After the API listens: republished desired states name artifacts by its URL.
    s.reconciliation.reconciler.start()
    const c = new Controller(
      core.config,
      http.url,
      core.instanceId,
      s.registry,
      s.models,
      e.rollouts,
      s.repo,
      e.engine,
      s.live,
      s.tokens,
      http.commands,
      { resources, telemetry: e.telemetry, conformance: http.conformance, reconciler: s.reconciliation.reconciler },
    )
    ctl.c = c
    return c
  })
}
