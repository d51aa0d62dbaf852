import * as z from 'zod'
import { ErrorPayloadSchema } from '../errors/fleet-error.js'
import { CountSchema, LabelValueSchema, MessageIdSchema, ModelIdSchema, Sha256Schema } from '../primitives.js'
import { deviceEnvelope } from './envelope.js'

/** Update phases, in the order a healthy update passes through them (then `active`). */
export const PHASES = ['idle', 'downloading', 'verifying', 'staging', 'staged', 'trial', 'active', 'failed', 'reverted'] as const
export const PhaseSchema = z.enum(PHASES)
export type Phase = z.infer<typeof PhaseSchema>

/** One A/B model slot. */
export const SlotSchema = z.object({
  slot: z.enum(['a', 'b']),
  model: ModelIdSchema.extend({ sha256: Sha256Schema }),
  /** `active`: serving; `trial`: serving, not yet confirmed; `staged`: ready for `switch`; `previous`: the rollback target. */
  role: z.enum(['active', 'trial', 'staged', 'previous']),
})
export type Slot = z.infer<typeof SlotSchema>

/** What the device runs and where its last update stands (retained, QoS 1). */
export const ReportedBodySchema = z.object({
  /** The generation last acted on (applied, failed or reverted). */
  generation: CountSchema,
  rolloutId: MessageIdSchema.nullable(),
  phase: PhaseSchema,
  slots: z.array(SlotSchema).max(2),
  /** Why the last update failed or reverted; `null` otherwise. */
  error: ErrorPayloadSchema.nullable().default(null),
  /** Download progress 0–1 while downloading. */
  progress: z.number().min(0).max(1).optional(),
  agentVersion: z.string().max(64),
  /** Hardware profile, e.g. `stm32h743`, `x86-edge`. */
  hardware: LabelValueSchema,
})
export const ReportedSchema = deviceEnvelope('reported', ReportedBodySchema)
export type ReportedBody = z.output<typeof ReportedBodySchema>
export type Reported = z.output<typeof ReportedSchema>
