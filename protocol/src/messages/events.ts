import * as z from 'zod'
import { ErrorPayloadSchema, JsonScalarSchema } from '../errors/fleet-error.js'
import { CountSchema, DeviceIdSchema, DurationMsSchema, EpochMsSchema, MessageIdSchema, ModelIdSchema } from '../primitives.js'
import { deviceEnvelope, fleetEnvelope } from './envelope.js'

/** Things that happen on a device that the controller must know about. */
export const DEVICE_EVENTS = [
  'started',
  'crashed',
  'watchdog-reset',
  'model-load-failed',
  'self-test-failed',
  'trial-started',
  'trial-confirmed',
  'local-revert',
  'buffer-overflow',
  'child-offline',
  'child-online',
] as const
export const DeviceEventBodySchema = z.object({
  event: z.enum(DEVICE_EVENTS),
  model: ModelIdSchema.optional(),
  /** For failures and reverts: the reason code and message. */
  error: ErrorPayloadSchema.optional(),
  /** Small key/value evidence (observed error rate, latency, …). */
  details: z.record(z.string().max(64), JsonScalarSchema).optional(),
})
export const DeviceEventSchema = deviceEnvelope('event', DeviceEventBodySchema)
export type DeviceEventBody = z.output<typeof DeviceEventBodySchema>
export type DeviceEvent = z.output<typeof DeviceEventSchema>

/** The numbers behind an automatic decision or alert. */
export const EvidenceSchema = z.object({
  rule: z.string().max(128),
  metric: z.string().max(64),
  comparison: z.enum(['absolute', 'budget', 'baseline']),
  windowMs: DurationMsSchema,
  windowStart: EpochMsSchema,
  sampleSize: CountSchema,
  observed: z.number().nullable(),
  threshold: z.number().nullable(),
  baseline: z.number().nullable(),
  /** Devices that tipped the rule (at most 1,000 listed). */
  devices: z.array(DeviceIdSchema).max(1000),
})
export type Evidence = z.infer<typeof EvidenceSchema>

export const FLEET_EVENTS = [
  'rollout-created',
  'rollout-started',
  'step-started',
  'step-completed',
  'rollout-paused',
  'rollout-resumed',
  'rollout-completed',
  'rollout-aborted',
  'rollout-rolled-back',
  'rollback-issued',
  'alert',
  'decision',
] as const
/** Rollout lifecycle and every automatic decision, with its evidence (controller → consumers). */
export const FleetEventBodySchema = z.object({
  event: z.enum(FLEET_EVENTS),
  rolloutId: MessageIdSchema.nullable(),
  /** Step index within the rollout, when the event is about a step. */
  step: CountSchema.optional(),
  /** The rollout state after the event. */
  state: z.string().max(32).optional(),
  /** For decisions: what was done. */
  action: z.enum(['alert', 'pause', 'rollback-device', 'rollback-rollout', 'none']).optional(),
  severity: z.enum(['info', 'warning', 'critical']).default('info'),
  message: z.string().max(2048),
  model: ModelIdSchema.optional(),
  evidence: EvidenceSchema.optional(),
  /** True when a dry-run rule reported without acting. */
  dryRun: z.boolean().optional(),
})
export const FleetEventSchema = fleetEnvelope('fleet-event', FleetEventBodySchema)
export type FleetEventBody = z.output<typeof FleetEventBodySchema>
export type FleetEvent = z.output<typeof FleetEventSchema>
