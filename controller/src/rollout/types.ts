import * as z from 'zod'
import {
  DeviceIdSchema,
  DurationMsSchema,
  EpochMsSchema,
  MessageIdSchema,
  ModelRefSchema,
  PolicySchema,
  Sha256Schema,
  ModelIdSchema,
} from '@liquid-edge/protocol'

export const StepSpecSchema = z.union([
  z.strictObject({ percent: z.number().gt(0).max(100) }),
  z.strictObject({ count: z.number().int().min(1).max(1_000_000) }),
  z.strictObject({ devices: z.array(DeviceIdSchema).min(1).max(10_000) }),
])

export const STRATEGIES = ['rolling', 'canary', 'blue-green', 'all'] as const
export const StrategySchema = z.enum(STRATEGIES)
export type Strategy = z.infer<typeof StrategySchema>

/** hawkBit-like rollout states. `staged`: blue-green candidates staged, waiting for `switch`. */
export const ROLLOUT_STATES = ['created', 'running', 'paused', 'staged', 'switching', 'completed', 'aborted', 'rolled-back'] as const
export const RolloutStateSchema = z.enum(ROLLOUT_STATES)
export type RolloutState = z.infer<typeof RolloutStateSchema>
export const TERMINAL_STATES: ReadonlySet<RolloutState> = new Set(['completed', 'aborted', 'rolled-back'])

/** How the reason of a rollout replaced by another begins (`superseded by <id>`). */
export const SUPERSEDED = 'superseded by '

/** When a step may proceed, and what a failing step does. Silent devices count as failures. */
export const GateSchema = z.strictObject({
  /** Share of the cohort that must succeed. @defaultValue 0.9 */
  successThreshold: z.number().min(0).max(1).default(0.9),
  /** Share of the cohort that may fail (failed or silent) before the gate trips. @defaultValue 0.1 */
  failureThreshold: z.number().min(0).max(1).default(0.1),
  /** Outcomes needed before the failure share is judged (capped at the cohort size). @defaultValue 1 */
  minSamples: z.number().int().min(1).max(1_000_000).default(1),
  /** What a tripped gate does. @defaultValue 'pause' */
  onFailure: z.enum(['pause', 'rollback']).default('pause'),
})
export type Gate = z.output<typeof GateSchema>

export const ModelSummarySchema = ModelIdSchema.extend({ sha256: Sha256Schema })
export type ModelSummary = z.infer<typeof ModelSummarySchema>

export const CountsSchema = z.object({
  targeted: z.number().int(),
  cohort: z.number().int(),
  pending: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  silent: z.number().int(),
  skipped: z.number().int(),
})
export type Counts = z.infer<typeof CountsSchema>
export const ZERO_COUNTS: Counts = { targeted: 0, cohort: 0, pending: 0, succeeded: 0, failed: 0, silent: 0, skipped: 0 }

/** A rollout as stored in Redis (one JSON string, compare-and-set on `revision`). */
export const RolloutSchema = z.object({
  id: MessageIdSchema,
  name: z.string().max(64).nullable(),
  kind: z.enum(['deploy', 'rollback']),
  revision: z.number().int(),
  createdAt: EpochMsSchema,
  updatedAt: EpochMsSchema,
  state: RolloutStateSchema,
  reason: z.string().max(512).nullable(),
  /** The selector text, or null for an explicit device list. */
  target: z.string().max(2048).nullable(),
  devices: z.array(DeviceIdSchema).nullable(),
  model: ModelRefSchema,
  policy: PolicySchema,
  mode: z.enum(['activate', 'stage']),
  strategy: StrategySchema,
  steps: z.array(StepSpecSchema).min(1).max(100),
  stratifyBy: z.string().max(63).nullable(),
  salt: z.string().max(256),
  bakeMs: DurationMsSchema,
  stepDeadlineMs: DurationMsSchema,
  gate: GateSchema,
  rateLimitPerMin: z.number().positive().nullable(),
  maxInFlight: z.number().int().positive().nullable(),
  step: z.number().int().nonnegative(),
  stepStartedAt: EpochMsSchema.nullable(),
  bakeUntil: EpochMsSchema.nullable(),
  /** Token bucket of the rate limit. */
  tokens: z.number(),
  tokensAt: EpochMsSchema,
  switchRequestedAt: EpochMsSchema.nullable(),
  supersedes: z.array(MessageIdSchema),
  rollbackOf: MessageIdSchema.nullable(),
  counts: CountsSchema,
  /** Terminal clean-up (lock release, abort reverts) done. */
  finalized: z.boolean(),
  /** A tripped gate asked for a rollback; finalization issues it (idempotently). */
  pendingRollback: z.boolean(),
  /** Failures (failed + silent) an operator accepted by resuming; the gate judges only new ones. */
  acceptedFailures: z.number().int().nonnegative().default(0),
  /** The rollback that sent this rollout's devices back, once one was issued. */
  rolledBackBy: MessageIdSchema.nullable().default(null),
})
export type Rollout = z.infer<typeof RolloutSchema>

export const OUTCOMES = ['pending', 'succeeded', 'failed', 'silent', 'skipped'] as const
export type Outcome = (typeof OUTCOMES)[number]

/**
 * Why a device is sent where it is: the rollout's release, back to the model it ran before, or —
 * when it has none the controller can send it back to — the policy's fallback (a version or none),
 * or a version an operator named.
 */
export const ROUTES = ['release', 'previous', 'fallback', 'version'] as const
export const RouteSchema = z.enum(ROUTES)
export type Route = z.infer<typeof RouteSchema>

/** Where a rollout sent one of its devices back to (abort, superseded, a rules revert). */
export const ReturnSchema = z.object({
  /** The model, or `null` for no model. */
  to: ModelSummarySchema.nullable(),
  route: z.enum(['previous', 'fallback']),
  /** Why it was sent back, and why there (e.g. "aborted; no previous model (first install)"). */
  reason: z.string().max(512),
  /** The generation that carries it; `null` when it went by command or was withdrawn. */
  gen: z.number().int().nullable(),
  at: EpochMsSchema,
})
export type Return = z.infer<typeof ReturnSchema>

/** One device's part in one rollout (hash field of the rollout's device table). */
export const DeviceProgressSchema = z.object({
  /** The generation issued to this device for this rollout; null when nothing was sent (skipped, command). */
  gen: z.number().int().nullable(),
  step: z.number().int(),
  at: EpochMsSchema,
  published: z.boolean(),
  outcome: z.enum(OUTCOMES),
  outcomeAt: EpochMsSchema.nullable(),
  error: z.string().max(512).nullable(),
  /** The model the device ran before (for rollback to previous and abort). */
  from: ModelSummarySchema.nullable(),
  /** The model sent to this device (rollbacks send each device its own); `null`: no model. */
  to: ModelSummarySchema.nullable(),
  /** Why `to`: the release (deploys), or for rollbacks the previous model or the policy's fallback. */
  route: RouteSchema.default('release'),
  /** Why the fallback, when `route` is `fallback` (e.g. "no previous model (first install); fallback: no model"). */
  note: z.string().max(512).nullable().default(null),
  /** Blue-green: state of the switch command. */
  switched: z.enum(['no', 'sent', 'done', 'failed']).default('no'),
  /** Sent back to `from` by the rules (crashed, unresponsive): failed for good, whatever it reports. */
  reverted: z.boolean().default(false),
  /** Where this rollout sent the device back to, if it did. */
  returned: ReturnSchema.nullable().default(null),
})
export type DeviceProgress = z.infer<typeof DeviceProgressSchema>

/** A device's progress as a step first records it: dispatched (pending) or skipped, no answer yet. */
export function newProgress(
  p: Pick<DeviceProgress, 'gen' | 'step' | 'at' | 'published' | 'from' | 'to'> & {
    outcome: 'pending' | 'skipped'
    route?: Route
    note?: string | null
  },
): DeviceProgress {
  return {
    route: 'release',
    note: null,
    ...p,
    outcomeAt: p.outcome === 'skipped' ? p.at : null,
    error: null,
    switched: 'no',
    reverted: false,
    returned: null,
  }
}

/**
 * Rollback plan entry, where a device goes back to: a store model by desired state, its standby
 * slot by command, or no model (desired state without one). `note` says why, for the device table.
 */
export const PlanEntrySchema = z.discriminatedUnion('via', [
  z.object({
    via: z.literal('desired'),
    model: ModelRefSchema,
    route: z.enum(['previous', 'fallback', 'version']).default('previous'),
    note: z.string().max(512).nullable().default(null),
  }),
  z.object({ via: z.literal('command'), model: ModelSummarySchema }),
  z.object({ via: z.literal('unload'), note: z.string().max(512) }),
  /** The device never left `model` (it had not acted on the release): its release desired state is withdrawn. */
  z.object({ via: z.literal('withdraw'), model: ModelSummarySchema }),
])
export type PlanEntry = z.infer<typeof PlanEntrySchema>

export { DeviceIdSchema }
