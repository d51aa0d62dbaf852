import * as z from 'zod'
import { DeviceIdSchema, MessageIdSchema, ModelNameSchema, PolicySchema, SemverSchema } from '@liquid-edge/protocol'
import { GateSchema, StepSpecSchema, StrategySchema } from './types.js'

/** How long a step waits for a device before its silence counts. @defaultValue 10 min */
const StepDeadlineSchema = z
  .number()
  .int()
  .min(100)
  .max(7 * 86_400_000)
  .default(10 * 60_000)

const P = PolicySchema.shape
/**
 * The policy fields a rollout request may set; unset ones come from the model's package, then the
 * defaults. (`PolicySchema.partial()` would not do: zod keeps a field's default inside `optional`,
 * so an unset energy budget arrived as `null` and replaced the package's.)
 */
export const PolicyOverridesSchema = z.object({
  trialMs: P.trialMs.unwrap().optional(),
  latencyThresholdMs: P.latencyThresholdMs.optional(),
  energyBudgetMw: P.energyBudgetMw.unwrap().optional(),
  maxErrorRate: P.maxErrorRate.unwrap().optional(),
  latencyTolerance: P.latencyTolerance.unwrap().optional(),
  energyTolerance: P.energyTolerance.unwrap().optional(),
  minSamples: P.minSamples.unwrap().optional(),
  fallback: P.fallback.unwrap().optional(),
  memoryBudgetBytes: P.memoryBudgetBytes.unwrap().optional(),
  minAccuracy: P.minAccuracy.unwrap().optional(),
  optional: P.optional.unwrap().optional(),
  /** Per hardware class; merged class by class and field by field over the package's. */
  budgets: P.budgets.unwrap().optional(),
  switchGraceMs: P.switchGraceMs.unwrap().optional(),
  debug: P.debug.unwrap().optional(),
})

/** `POST /v1/rollouts`: deploy a model. */
export const DeployRequestSchema = z
  .strictObject({
    model: z.strictObject({ name: ModelNameSchema, version: SemverSchema }),
    /** Label selector (see `parseSelector`); empty = every registered device. */
    target: z.string().max(2048),
    name: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .optional(),
    /** @defaultValue `rolling`; `blue-green` when the target is a blue-green colour group */
    strategy: StrategySchema.optional(),
    /** Steps; defaults per strategy (rolling: 25%, 100%; all and blue-green: 100%). */
    steps: z.array(StepSpecSchema).min(1).max(100).optional(),
    /** Canary: named devices, or the first `canaryCount` by bucket, before the steps. */
    canary: z.array(DeviceIdSchema).min(1).max(1000).optional(),
    canaryCount: z.number().int().min(1).max(100_000).optional(),
    /** Rolling in batches of N devices (instead of percent steps). */
    batchSize: z.number().int().min(1).max(1_000_000).optional(),
    stratifyBy: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,63}$/)
      .optional(),
    salt: z.string().min(1).max(256).optional(),
    bakeMs: z
      .number()
      .int()
      .min(0)
      .max(7 * 86_400_000)
      .default(0),
    stepDeadlineMs: StepDeadlineSchema,
    gate: GateSchema.default({ successThreshold: 0.9, failureThreshold: 0.1, minSamples: 10, onFailure: 'pause' }),
    rateLimitPerMin: z.number().positive().max(10_000_000).optional(),
    /** Devices told and not yet answered (online ones) at once. @defaultValue 1000 (DEFAULT_MAX_IN_FLIGHT) */
    maxInFlight: z.number().int().positive().max(10_000_000).optional(),
    policy: PolicyOverridesSchema.optional(),
    /** Replace active rollouts on the same devices instead of refusing. */
    supersede: z.boolean().default(false),
  })
  .superRefine((v, ctx) => {
    if (v.strategy === 'canary' && v.canary === undefined && v.canaryCount === undefined) {
      ctx.addIssue({ code: 'custom', path: ['canary'], message: "strategy 'canary' needs 'canary' (device ids) or 'canaryCount'" })
    }
    if (v.strategy !== 'canary' && (v.canary !== undefined || v.canaryCount !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['canary'], message: "'canary' and 'canaryCount' need strategy 'canary'" })
    }
    if (v.batchSize !== undefined && v.steps !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['batchSize'], message: "'batchSize' and 'steps' are mutually exclusive" })
    }
  })
export type DeployRequest = z.input<typeof DeployRequestSchema>

/** `POST /v1/rollback`: exactly one scope, exactly one destination. */
export const RollbackRequestSchema = z
  .strictObject({
    rolloutId: MessageIdSchema.optional(),
    target: z.string().max(2048).optional(),
    deviceId: DeviceIdSchema.optional(),
    toPrevious: z.boolean().optional(),
    toVersion: SemverSchema.optional(),
    /** Model name for `toVersion` when the scope does not imply one. */
    model: ModelNameSchema.optional(),
    stepDeadlineMs: StepDeadlineSchema,
  })
  .superRefine((v, ctx) => {
    const scopes = [v.rolloutId, v.target, v.deviceId].filter((x) => x !== undefined).length
    if (scopes !== 1)
      ctx.addIssue({ code: 'custom', path: ['target'], message: "give exactly one of 'rolloutId', 'target' and 'deviceId'" })
    if ((v.toPrevious === true) === (v.toVersion !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['toPrevious'], message: "give exactly one of 'toPrevious' and 'toVersion'" })
    }
  })
export type RollbackRequest = z.input<typeof RollbackRequestSchema>

export const SwitchRequestSchema = z
  .strictObject({ rolloutId: MessageIdSchema.optional(), to: z.string().max(64).optional(), from: z.string().max(64).optional() })
  .refine((v) => v.rolloutId !== undefined || v.to !== undefined, { message: "give 'rolloutId' or 'to'", path: ['to'] })

export const DecommissionRequestSchema = z.strictObject({
  target: z.string().max(2048),
  timeoutMs: z.number().int().min(100).max(600_000).default(10_000),
})
