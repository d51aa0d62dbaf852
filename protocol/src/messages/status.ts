import * as z from 'zod'
import { CountSchema, LabelValueSchema } from '../primitives.js'
import { deviceEnvelope } from './envelope.js'

/**
 * Online/offline (retained, QoS 1, also the Last Will). `session` grows with every connection,
 * so a stale offline (a late Last Will) never overrides a newer online: compare sessions.
 */
export const StatusBodySchema = z.object({
  online: z.boolean(),
  session: CountSchema,
  agentVersion: z.string().max(64).optional(),
  hardware: LabelValueSchema.optional(),
  /** For gateways: the id of the gateway that speaks for this device. */
  gateway: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/)
    .optional(),
})
export const StatusSchema = deviceEnvelope('status', StatusBodySchema)
export type StatusBody = z.output<typeof StatusBodySchema>
export type Status = z.output<typeof StatusSchema>
