import * as z from 'zod'
import { ErrorPayloadSchema, JsonScalarSchema } from '../errors/fleet-error.js'
import {
  CountSchema,
  DeviceIdSchema,
  DurationMsSchema,
  EpochMsSchema,
  LabelValueSchema,
  MessageIdSchema,
  ModelIdSchema,
} from '../primitives.js'
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
  'model-unloaded',
] as const
export const DeviceEventBodySchema = z
  .object({
    event: z
      .enum(DEVICE_EVENTS)
      .describe(
        'What happened: started (software started), crashed (the last run ended without a clean shutdown), watchdog-reset, model-load-failed, self-test-failed, trial-started, trial-confirmed, local-revert, buffer-overflow (telemetry dropped), child-offline / child-online (gateways), model-unloaded (a desired state with no model unloaded it; error carries its reason).',
      ),
    model: ModelIdSchema.optional().describe('The model concerned, when there is one.'),
    /** For failures and reverts: the reason code and message. */
    error: ErrorPayloadSchema.optional().describe('For failures and reverts: the reason code and message.'),
    /** Small key/value evidence (observed error rate, latency, …). */
    details: z
      .record(z.string().max(64), JsonScalarSchema)
      .optional()
      .describe('Small key/value evidence (observed error rate, latency, …); units in the key names.'),
  })
  .describe('Something that happened on the device that the controller must know about.')
export const DeviceEventSchema = deviceEnvelope(
  'event',
  DeviceEventBodySchema,
  'A device event (device → controller, QoS 1, not retained): crashes, resets, load failures, trials, local reverts.',
)
export type DeviceEventBody = z.output<typeof DeviceEventBodySchema>
export type DeviceEvent = z.output<typeof DeviceEventSchema>

/** The numbers behind an automatic decision or alert. */
const ValueSchema = z.number().min(-1e12).max(1e12)
export const EvidenceSchema = z
  .object({
    rule: z.string().max(128).describe('The rule that fired.'),
    metric: z.string().max(64).describe('The metric it judges, e.g. error_rate, latency.avg (unit in the rule documentation).'),
    comparison: z
      .enum(['absolute', 'budget', 'baseline'])
      .describe('absolute: against a fixed threshold; budget: against the model budget; baseline: against the devices on the old model.'),
    windowMs: DurationMsSchema.describe('Length of the window judged, milliseconds.'),
    windowStart: EpochMsSchema.describe('Start of the window judged, epoch milliseconds.'),
    sampleSize: CountSchema.describe('Samples (inferences or windows, by metric) in the window.'),
    observed: ValueSchema.nullable().describe('The value observed, in the metric unit; null when unknown.'),
    threshold: ValueSchema.nullable().describe('The threshold it was compared with, same unit; null when none.'),
    baseline: ValueSchema.nullable().describe('The baseline cohort value, same unit; null when none.'),
    /** Devices that tipped the rule (at most 1,000 listed). */
    devices: z.array(DeviceIdSchema).max(1000).describe('Devices that tipped the rule (at most 1,000 listed).'),
    approximate: z
      .boolean()
      .optional()
      .describe('True when the observed value rests on windows of older agents that sent latency quantiles only.'),
    hardware: LabelValueSchema.optional().describe("The hardware class the rule judged, against that class's budgets."),
    graced: z
      .array(DeviceIdSchema)
      .max(1000)
      .optional()
      .describe('Devices silent while switching models, inside their grace period: not counted as unresponsive (at most 1,000 listed).'),
    graceMs: DurationMsSchema.optional().describe(
      'The switch-time grace applied to each device after it was sent the model, milliseconds.',
    ),
  })
  .describe('The numbers behind a decision or alert.')
export type Evidence = z.infer<typeof EvidenceSchema>

export const FLEET_EVENTS = [
  'rollout-created',
  'rollout-started',
  'step-started',
  'step-completed',
  'rollout-paused',
  'rollout-resumed',
  'rollout-promoted',
  'rollout-completed',
  'rollout-aborted',
  'rollout-rolled-back',
  'rollback-issued',
  'alert',
  'decision',
  'devices-returned',
] as const

/** Where one device of a rollout ended, or was sent, and why (rollbacks, aborts, reverts). */
export const DeviceAccountSchema = z
  .object({
    deviceId: DeviceIdSchema,
    model: ModelIdSchema.nullable().describe('The model the device was sent to or ended on; null = no model.'),
    route: z
      .enum(['release', 'previous', 'fallback', 'version'])
      .describe(
        "Why that model: release (the rollout's model), previous (the model it ran before), fallback (the policy's fallback: it had no previous model the controller could send it back to), version (a version an operator named).",
      ),
    outcome: z
      .enum(['pending', 'converged', 'failed', 'unreachable'])
      .describe(
        'pending: sent, not yet reported; converged: the device reported it; failed: the device reported a failure; unreachable: offline, it converges from its retained desired state when it returns.',
      ),
    reason: z.string().max(512).optional().describe('Why the device went there, when it is not the obvious route.'),
  })
  .describe('Where one device of a rollout was sent or ended, and why.')
export type DeviceAccount = z.infer<typeof DeviceAccountSchema>
/** Rollout lifecycle and every automatic decision, with its evidence (controller → consumers). */
export const FleetEventBodySchema = z
  .object({
    event: z
      .enum(FLEET_EVENTS)
      .describe(
        'What happened to the rollout, or alert / decision; devices-returned: devices the controller sent back (abort, superseded, rules), listed in devices.',
      ),
    rolloutId: MessageIdSchema.nullable().describe('The rollout concerned, or null.'),
    /** Step index within the rollout, when the event is about a step. */
    step: CountSchema.optional().describe('Step index within the rollout, from 0, when the event is about a step.'),
    /** The rollout state after the event. */
    state: z.string().max(32).optional().describe('The rollout state after the event (RUNNING, PAUSED, FINISHED, …).'),
    /** For decisions: what was done. */
    action: z
      .enum(['alert', 'pause', 'rollback-device', 'rollback-class', 'rollback-rollout', 'none'])
      .optional()
      .describe(
        "For decisions: what was done. rollback-class: a rule judged for one hardware class broke — that class's devices were sent back and get no more of this release, while the other classes keep it (evidence.hardware names the class).",
      ),
    severity: z.enum(['info', 'warning', 'critical']).default('info').describe('Severity; default info.'),
    message: z.string().max(2048).describe('Human-readable summary.'),
    model: ModelIdSchema.optional().describe('The model concerned.'),
    evidence: EvidenceSchema.optional(),
    devices: z
      .array(DeviceAccountSchema)
      .max(1000)
      .optional()
      .describe(
        'For rollbacks, aborts and devices sent back: where each device was sent or ended and why (at most 1,000 listed; the rollout shows all).',
      ),
    /** True when a dry-run rule reported without acting. */
    dryRun: z.boolean().optional().describe('True when a dry-run rule reported without acting.'),
  })
  .describe('A rollout lifecycle event or an automatic decision, with its evidence.')
export const FleetEventSchema = fleetEnvelope(
  'fleet-event',
  FleetEventBodySchema,
  'A fleet event (controller → consumers, QoS 1): rollout lifecycle, alerts and automatic decisions with evidence.',
)
export type FleetEventBody = z.output<typeof FleetEventBodySchema>
export type FleetEvent = z.output<typeof FleetEventSchema>
