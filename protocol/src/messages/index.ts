import type * as z from 'zod'
import { CommandSchema } from './command.js'
import { DesiredSchema } from './desired.js'
import { DeviceEventSchema, FleetEventSchema } from './events.js'
import { ReplySchema } from './reply.js'
import { ReportedSchema } from './reported.js'
import { StatusSchema } from './status.js'
import { TelemetrySchema } from './telemetry.js'
import type { TopicKind } from '../topics.js'

/** Every message schema by envelope `type`. */
export const MESSAGE_SCHEMAS = {
  desired: DesiredSchema,
  command: CommandSchema,
  reply: ReplySchema,
  reported: ReportedSchema,
  status: StatusSchema,
  telemetry: TelemetrySchema,
  event: DeviceEventSchema,
  'fleet-event': FleetEventSchema,
} as const
export type MessageType = keyof typeof MESSAGE_SCHEMAS
export type MessageOf<T extends MessageType> = z.output<(typeof MESSAGE_SCHEMAS)[T]>
export type MessageInputOf<T extends MessageType> = z.input<(typeof MESSAGE_SCHEMAS)[T]>
export type ProtocolMessage = { [T in MessageType]: MessageOf<T> }[MessageType]

/** The envelope type each topic kind carries. */
export const TYPE_BY_TOPIC = {
  desired: 'desired',
  cmd: 'command',
  reply: 'reply',
  reported: 'reported',
  status: 'status',
  telemetry: 'telemetry',
  events: 'event',
  'fleet-events': 'fleet-event',
} as const satisfies Record<TopicKind, MessageType>
export type TypeOfTopic<K extends TopicKind> = (typeof TYPE_BY_TOPIC)[K]

/** MQTT delivery rules per topic kind (DESIGN.md, "The wire"). */
export const DELIVERY: Readonly<Record<TopicKind, { qos: 0 | 1; retain: boolean }>> = {
  desired: { qos: 1, retain: true },
  cmd: { qos: 1, retain: false },
  reply: { qos: 1, retain: false },
  reported: { qos: 1, retain: true },
  status: { qos: 1, retain: true },
  telemetry: { qos: 0, retain: false },
  events: { qos: 1, retain: false },
  'fleet-events': { qos: 1, retain: false },
}
