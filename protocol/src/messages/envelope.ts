import * as z from 'zod'
import { DeviceIdSchema, EpochMsSchema, MessageIdSchema } from '../primitives.js'

/** The schema version this package writes and reads. A breaking change is a new topic version. */
export const SCHEMA_VERSION = 1

const base = {
  /** Schema version of the envelope and body. */
  v: z.literal(SCHEMA_VERSION),
  /** Unique message id (for commands, the command id replies correlate with). */
  id: MessageIdSchema,
  /** When the sender created the message, epoch ms. */
  ts: EpochMsSchema,
}

/** An envelope for a message on a per-device topic: carries the device id it speaks for. */
export function deviceEnvelope<T extends string, B extends z.ZodType>(type: T, body: B) {
  return z.object({ ...base, type: z.literal(type), deviceId: DeviceIdSchema, body }).meta({ id: pascal(type) })
}

/** An envelope for a fleet-wide message (no device id). */
export function fleetEnvelope<T extends string, B extends z.ZodType>(type: T, body: B) {
  return z.object({ ...base, type: z.literal(type), body }).meta({ id: pascal(type) })
}

function pascal(type: string): string {
  return type.replace(/(^|[-_.])(\w)/g, (_m, _sep: string, c: string) => c.toUpperCase())
}
