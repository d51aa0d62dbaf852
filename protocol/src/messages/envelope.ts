import * as z from 'zod'
import { DeviceIdSchema, EpochMsSchema, MessageIdSchema } from '../primitives.js'

/** The schema version this package writes and reads. A breaking change is a new topic version. */
export const SCHEMA_VERSION = 1

const base = {
  v: z.literal(SCHEMA_VERSION).describe('Schema version of the envelope and body; this contract is version 1.'),
  id: MessageIdSchema.describe(
    'Unique id of this message, chosen by its sender (a UUID is right). Never reused: consumers de-duplicate by it. A command id is what its replies carry as commandId.',
  ),
  ts: EpochMsSchema.describe('When the sender created the message: epoch milliseconds (UTC) from a synchronised clock.'),
}

/** An envelope for a message on a per-device topic: carries the device id it speaks for. */
export function deviceEnvelope<T extends string, B extends z.ZodType>(type: T, body: B, description: string) {
  return z
    .object({
      ...base,
      type: z.literal(type).describe(`Message type; always '${type}' on this topic.`),
      deviceId: DeviceIdSchema.describe('The device the message is about: always the device id in the topic.'),
      body,
    })
    .meta({ id: pascal(type), description })
}

/** An envelope for a fleet-wide message (no device id). */
export function fleetEnvelope<T extends string, B extends z.ZodType>(type: T, body: B, description: string) {
  return z
    .object({ ...base, type: z.literal(type).describe(`Message type; always '${type}' on this topic.`), body })
    .meta({ id: pascal(type), description })
}

function pascal(type: string): string {
  return type.replace(/(^|[-_.])(\w)/g, (_m, _sep: string, c: string) => c.toUpperCase())
}
