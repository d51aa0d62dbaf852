import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { Metrics } from '../api/metrics.js'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { Keys } from '../keys.js'
import type { ModelStore } from '../models/model-store.js'
import type { MqttLink } from '../mqtt/link.js'
import type { LiveStore } from '../registry/live.js'
import { DesiredStates } from './desired-states.js'
import { PendingCommands } from './pending-commands.js'
import { DesiredReconciler } from './reconciler.js'

/** Desired states, the rollout commands not yet answered, and the reconciler that sends again what a broker lost. */
export interface Reconciliation {
  desired: DesiredStates
  commands: PendingCommands
  reconciler: DesiredReconciler
}

/** How long after a device comes online it is checked: its retained desired state, if the broker kept it, arrives first. */
const ONLINE_GRACE_MS = 2000

export function createReconciliation(o: {
  redis: Redis
  keys: Keys
  link: MqttLink
  models: ModelStore
  live: LiveStore
  clock: Clock
  logger: Logger
  instanceId: string
  config: Pick<Config, 'reconcileMs' | 'reconcileBatch'>
  metrics: Metrics
}): Reconciliation {
  const desired = new DesiredStates({
    redis: o.redis,
    keys: o.keys,
    link: o.link,
    models: o.models,
    onWrite: () => {
      o.metrics.desiredWrites.inc()
    },
  })
  const commands = new PendingCommands(o.redis, o.keys, o.link)
  const reconciler = new DesiredReconciler({
    redis: o.redis,
    keys: o.keys,
    desired,
    commands,
    live: o.live,
    clock: o.clock,
    logger: o.logger.child({ component: 'reconciler' }),
    instanceId: o.instanceId,
    periodMs: o.config.reconcileMs,
    batch: o.config.reconcileBatch,
    graceMs: Math.min(ONLINE_GRACE_MS, o.config.reconcileMs),
    onResent: (trigger, kind, n) => {
      o.metrics.desiredRepublished.inc({ trigger, kind }, n)
    },
  })
  return { desired, commands, reconciler }
}
