import * as z from 'zod'
import { CountSchema, DurationMsSchema, EpochMsSchema, MessageIdSchema, ModelRefSchema } from '../primitives.js'
import { deviceEnvelope } from './envelope.js'

/** What the device watches during a trial, and the limits it reverts on. */
export const PolicySchema = z.object({
  /** How long the new model runs in trial before the agent confirms it. @defaultValue 60000 */
  trialMs: DurationMsSchema.default(60_000),
  /** The model's latency threshold; a trial reverts when p95 latency exceeds it by `latencyTolerance`. */
  latencyThresholdMs: z.number().positive().max(3_600_000),
  /** The model's energy budget in mW; `null` when the model declares none. */
  energyBudgetMw: z.number().positive().max(1e9).nullable().default(null),
  /** Error rate (0–1) above which a trial reverts. @defaultValue 0.1 */
  maxErrorRate: z.number().min(0).max(1).default(0.1),
  /** Relative margin over the latency threshold before a trial reverts. @defaultValue 0.5 */
  latencyTolerance: z.number().min(0).max(100).default(0.5),
  /** Relative margin over the energy budget before a trial reverts. @defaultValue 0.25 */
  energyTolerance: z.number().min(0).max(100).default(0.25),
  /** Inferences needed before a trial may be judged on rates. @defaultValue 20 */
  minSamples: CountSchema.default(20),
})
export type Policy = z.output<typeof PolicySchema>

/**
 * The model a device should run (retained, QoS 1). A device applies a desired state only when its
 * generation is newer than the one it applied last and it has not expired.
 */
export const DesiredBodySchema = z.object({
  /** Monotonic per device: a lower or equal generation is never applied. */
  generation: CountSchema,
  /** The rollout that wrote this state, or `null` for a manual assignment. */
  rolloutId: MessageIdSchema.nullable(),
  model: ModelRefSchema,
  policy: PolicySchema,
  /**
   * `activate`: stage, self-test and run in trial. `stage`: stage beside the running model only
   * (blue-green), to be made active by a `switch` command.
   */
  mode: z.enum(['activate', 'stage']).default('activate'),
  /** After this instant (epoch ms) the state must not be applied; `null` = never expires. */
  expiresAt: EpochMsSchema.nullable().default(null),
})
export const DesiredSchema = deviceEnvelope('desired', DesiredBodySchema)
export type DesiredBody = z.output<typeof DesiredBodySchema>
export type Desired = z.output<typeof DesiredSchema>
