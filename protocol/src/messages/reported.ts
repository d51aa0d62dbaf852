import * as z from 'zod'
import { ErrorPayloadSchema } from '../errors/fleet-error.js'
import { CountSchema, LabelValueSchema, MessageIdSchema, ModelIdSchema, Sha256Schema } from '../primitives.js'
import { deviceEnvelope } from './envelope.js'

/** Update phases, in the order a healthy update passes through them (then `active`). */
export const PHASES = ['idle', 'downloading', 'verifying', 'staging', 'staged', 'trial', 'active', 'failed', 'reverted'] as const
export const PhaseSchema = z
  .enum(PHASES)
  .describe(
    'Where the device stands (docs/device-contract.md, phase state machine): idle (no model), downloading, verifying (hash, signature, self-test), staging (writing and loading the slot), staged (blue-green, waiting for switch), trial, active (confirmed), failed (generation refused; the previous model still runs), reverted (trial broke the policy; back on the previous model).',
  )
export type Phase = z.infer<typeof PhaseSchema>

/** One A/B model slot. */
export const SlotSchema = z
  .object({
    slot: z.enum(['a', 'b']).describe('Slot name.'),
    model: ModelIdSchema.extend({
      sha256: Sha256Schema.describe('SHA-256 of the .liquid file in the slot.'),
    }).describe('The model resident in the slot.'),
    /** `active`: serving; `trial`: serving, not yet confirmed; `staged`: ready for `switch`; `previous`: the rollback target. */
    role: z
      .enum(['active', 'trial', 'staged', 'previous'])
      .describe('active: serving, confirmed; trial: serving, not yet confirmed; staged: ready for switch; previous: the rollback target.'),
  })
  .describe('One A/B model slot. At most one slot serves (active or trial).')
export type Slot = z.infer<typeof SlotSchema>

/** What the device runs and where its last update stands (retained, QoS 1). */
export const ReportedBodySchema = z
  .object({
    /** The generation last acted on (applied, failed or reverted). */
    generation: CountSchema.describe(
      'The desired generation this report is about: the one in progress, or the last one acted on (applied, staged, failed or reverted). 0 before any.',
    ),
    rolloutId: MessageIdSchema.nullable().describe('The rolloutId of that desired generation (null when it had none).'),
    phase: PhaseSchema,
    slots: z.array(SlotSchema).max(2).describe('The occupied model slots and their roles; empty on a device with no model.'),
    /** Why the last update failed or reverted; `null` otherwise. */
    error: ErrorPayloadSchema.nullable()
      .default(null)
      .describe('Why the generation failed (phase failed) or reverted (phase reverted); null (default) otherwise.'),
    /** Why the device runs no model: the `reason` of the desired state that unloaded it; `null` otherwise. */
    reason: ErrorPayloadSchema.nullable()
      .default(null)
      .describe(
        'Why the device runs no model: the reason of the desired state (model null) that unloaded it, while the device idles on it; null (default) otherwise.',
      ),
    /** Download progress 0–1 while downloading. */
    progress: z.number().min(0).max(1).optional().describe('Download progress, 0-1 (bytes received ÷ size), while downloading.'),
    agentVersion: z.string().max(64).describe('Version of the device software, at most 64 characters.'),
    /** Hardware profile, e.g. `stm32h743`, `x86-edge`. */
    hardware: LabelValueSchema.describe('Hardware profile, e.g. stm32h743 or x86-edge; packages may be limited to some.'),
  })
  .describe('What the device runs and where its last update stands. Published (retained) on every phase change and on connect.')
export const ReportedSchema = deviceEnvelope(
  'reported',
  ReportedBodySchema,
  'Reported state (device → controller, QoS 1, retained): what the device runs and where its last update stands.',
)
export type ReportedBody = z.output<typeof ReportedBodySchema>
export type Reported = z.output<typeof ReportedSchema>
