import * as z from 'zod'
import { CountSchema, LabelValueSchema } from '../primitives.js'
import { deviceEnvelope } from './envelope.js'

/**
 * Online/offline (retained, QoS 1, also the Last Will). `session` grows with every connection,
 * so a stale offline (a late Last Will) never overrides a newer online: compare sessions.
 */
export const StatusBodySchema = z
  .object({
    online: z.boolean().describe('true: published at each connect; false: the Last Will, or published before a clean disconnect.'),
    session: CountSchema.describe(
      'Session number: persisted, +1 before every connection attempt, so it grows across reconnects and reboots. The Last Will carries the same number as its connection. Readers drop a status whose session is lower than the last one seen.',
    ),
    agentVersion: z.string().max(64).optional().describe('Version of the device software, at most 64 characters.'),
    hardware: LabelValueSchema.optional().describe('Hardware profile, e.g. stm32h743.'),
    /** For gateways: the id of the gateway that speaks for this device. */
    gateway: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .optional()
      .describe('For a device behind a gateway: the gateway id; the device is offline whenever its gateway is.'),
  })
  .describe('Online or offline, with the session number that orders them.')
export const StatusSchema = deviceEnvelope(
  'status',
  StatusBodySchema,
  'Online/offline (device → all, QoS 1, retained); the offline form is also the Last Will of the connection.',
)
export type StatusBody = z.output<typeof StatusBodySchema>
export type Status = z.output<typeof StatusSchema>
