/**
 * What the console reads from the controller's API, validated at the boundary. Tolerant
 * readers (unknown keys kept, not required): the console shows what the API returns.
 * Wire types (fleet events and their evidence) come from the protocol package.
 */
import * as z from 'zod'
import { FleetEventBodySchema } from '@liquid-edge/protocol'

const nullable = <T extends z.ZodType>(s: T) => s.nullable().default(null)

export const WhoAmISchema = z.looseObject({ name: z.string(), scopes: z.array(z.string()) })
export type WhoAmI = z.infer<typeof WhoAmISchema>

export const DeviceViewSchema = z.looseObject({
  id: z.string(),
  labels: z.record(z.string(), z.string()),
  online: nullable(z.boolean()),
  phase: nullable(z.string()),
  generation: nullable(z.number()),
  active: nullable(z.string()),
  standby: nullable(z.string()),
  error: nullable(z.string()),
  hardware: nullable(z.string()),
  lastTelemetryAt: nullable(z.number()),
  rollout: nullable(z.string()),
  /** The saved groups the device is in (fleet pages). */
  groups: z.array(z.string()).default([]),
})
export type DeviceView = z.infer<typeof DeviceViewSchema>

export const FleetPageSchema = z.looseObject({ total: z.number(), offset: z.number(), devices: z.array(DeviceViewSchema) })
export type FleetPage = z.infer<typeof FleetPageSchema>

export const FleetSummarySchema = z.looseObject({
  total: z.number(),
  summary: z.record(z.string(), z.record(z.string(), z.number())),
})
export type FleetSummary = z.infer<typeof FleetSummarySchema>

export const CountsSchema = z.looseObject({
  targeted: z.number(),
  cohort: z.number(),
  pending: z.number(),
  succeeded: z.number(),
  failed: z.number(),
  silent: z.number(),
  skipped: z.number(),
})
export type Counts = z.infer<typeof CountsSchema>

const StepSchema = z.union([
  z.looseObject({ percent: z.number() }),
  z.looseObject({ count: z.number() }),
  z.looseObject({ devices: z.array(z.string()) }),
])
export type StepSpec = z.infer<typeof StepSchema>

export const RolloutSchema = z.looseObject({
  id: z.string(),
  name: nullable(z.string()),
  kind: z.string(),
  revision: z.number(),
  createdAt: z.number(),
  updatedAt: z.number(),
  state: z.string(),
  reason: nullable(z.string()),
  target: nullable(z.string()),
  model: z.looseObject({ name: z.string(), version: z.string() }),
  strategy: z.string(),
  steps: z.array(StepSchema),
  step: z.number(),
  bakeMs: z.number(),
  bakeUntil: nullable(z.number()),
  counts: CountsSchema,
  rollbackOf: nullable(z.string()),
  supersedes: z.array(z.string()).default([]),
})
export type Rollout = z.infer<typeof RolloutSchema>

export const RolloutListSchema = z.looseObject({ rollouts: z.array(RolloutSchema) })

export const ProgressSchema = z.looseObject({
  id: z.string(),
  outcome: z.string(),
  gen: nullable(z.number()),
  step: z.number(),
  error: nullable(z.string()),
  reverted: z.boolean().default(false),
})
export type Progress = z.infer<typeof ProgressSchema>

export const RolloutDetailSchema = RolloutSchema.extend({ devices_: z.array(ProgressSchema).default([]) })
export type RolloutDetail = z.infer<typeof RolloutDetailSchema>

export const RuleResultSchema = z.looseObject({
  rule: z.string(),
  metric: z.string(),
  comparison: z.string(),
  action: z.string(),
  outcome: z.string(),
  firing: z.boolean(),
  observed: nullable(z.number()),
  threshold: nullable(z.number()),
  baseline: nullable(z.number()),
  sampleSize: z.number(),
  windowStart: z.number(),
  windowMs: z.number(),
  devices: z.array(z.string()).default([]),
})
export type RuleResult = z.infer<typeof RuleResultSchema>

export const RuleStatesSchema = z.looseObject({
  at: z.number(),
  dryRun: z.boolean().default(false),
  candidate: z.string(),
  baseline: nullable(z.string()),
  results: z.array(RuleResultSchema),
})
export type RuleStates = z.infer<typeof RuleStatesSchema>

export const RulesSchema = z.looseObject({ dryRun: z.boolean().default(false), states: RuleStatesSchema.nullable() })

export const AuditEntrySchema = FleetEventBodySchema.extend({ id: z.string(), at: z.number() })
export type AuditEntry = z.infer<typeof AuditEntrySchema>
export const EventsSchema = z.looseObject({ events: z.array(AuditEntrySchema), last: z.string().nullable() })

const figure = nullable(z.number())
export const PointSchema = z.looseObject({
  at: z.number(),
  devices: z.number(),
  errorRate: figure,
  latencyAvgMs: figure,
  latencyP50Ms: figure,
  latencyP95Ms: figure,
  latencyP99Ms: figure,
  powerMw: figure,
  temperatureMaxC: figure,
})
export type Point = z.infer<typeof PointSchema>
export const SeriesSchema = z.looseObject({
  stepMs: z.number(),
  from: z.number(),
  to: z.number(),
  series: z.array(z.looseObject({ cohort: z.string(), points: z.array(PointSchema) })),
})
export type Series = z.infer<typeof SeriesSchema>

export const RollbackResultSchema = z.looseObject({
  rollout: RolloutSchema.nullable(),
  touched: z.number(),
  unchanged: z.number(),
})
export type RollbackResult = z.infer<typeof RollbackResultSchema>

/** Live stream payloads. */
export const HelloSchema = z.looseObject({ at: z.number(), replayed: z.number(), gap: z.boolean() })
export const RulesEventSchema = z.looseObject({ rolloutId: z.string(), states: RuleStatesSchema })
export const FleetEventSchema = z.looseObject({ changed: z.number(), devices: z.array(z.string()) })
