import * as z from 'zod'
import {
  DeviceIdSchema,
  DurationMsSchema,
  EpochMsSchema,
  HttpUrlSchema,
  MessageIdSchema,
  ModelRefSchema,
  SemverSchema,
} from '../primitives.js'
import { deviceEnvelope } from './envelope.js'

const common = {
  /** After this instant (epoch ms) the device refuses the command with `AGENT_COMMAND_EXPIRED`. */
  expiresAt: EpochMsSchema.describe(
    'Epoch milliseconds after which the command must not run: the device answers ok=false with AGENT_COMMAND_EXPIRED.',
  ),
}

/**
 * A measurement takes at most this many samples per second, whatever its duty cycle: a few thousand
 * samples give a profile's quantiles, and a device whose inferences take microseconds would
 * otherwise spend its whole share on bookkeeping. `samples` therefore take at least samples ÷ 200 s.
 */
export const MEASURE_MAX_RATE_PER_S = 200

/**
 * What a measurement (verify, profile, evaluate) may take of a device: a share of its time.
 * Application inferences keep priority; the device rests between samples so that the measurement
 * is busy at most this share of the time, and honours the expiry and `cancel` while it runs.
 */
const measure = {
  dutyCycle: z
    .number()
    .min(0.01)
    .max(1)
    .default(0.25)
    .describe(
      'Largest share of the device time the measurement may use (0.01-1, default 0.25); application inferences keep priority. Long measurements send partial results (final=false) as they go.',
    ),
}

/** Roll back: to the previous model (the standby slot, no download) or to a named version. */
export const RollbackCommandSchema = z
  .object({
    kind: z.literal('rollback').describe('Command kind (required of every device).'),
    ...common,
    to: z
      .discriminatedUnion('to', [
        z
          .object({ to: z.literal('previous').describe('Back to the model in the previous slot, without a download.') })
          .describe('Roll back to the previous model.'),
        z
          .object({
            to: z.literal('version').describe('Back to a named version.'),
            version: SemverSchema.describe('The version to run.'),
            /** Where to fetch that version when it is not resident on the device. */
            model: ModelRefSchema.optional().describe('Where to fetch that version when it is not resident on the device.'),
          })
          .describe('Roll back to a named version, resident or fetched.'),
      ])
      .describe('Where to roll back to.'),
  })
  .describe('Roll back at once, skipping trial and gates. Safe to repeat.')

export const VERIFY_SUITES = ['smoke', 'integration', 'production', 'full'] as const
/** Run a test suite on the device: smoke (golden vectors), integration (+ budgets), production (+ A/B), full. */
export const VerifyCommandSchema = z
  .object({
    kind: z.literal('verify').describe('Command kind (required: at least the smoke suite).'),
    ...common,
    suite: z
      .enum(VERIFY_SUITES)
      .describe('smoke: golden vectors; integration: + latency and energy budgets; production: + the A/B comparison; full: everything.'),
    /** Samples for the budget checks. @defaultValue 200 */
    samples: z.number().int().min(1).max(100_000).default(200).describe('Inferences for the budget checks (1-100000, default 200).'),
    minAgreement: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe(
        'production/full: fail when the candidate agrees with the active model on fewer than this share of the golden inputs; absent = agreement is reported, not judged.',
      ),
    ...measure,
  })
  .describe('Run a test suite on the device against the active (or staged) model.')

/** Measure latency or energy, for a duration or a number of samples (exactly one of them). */
export const ProfileCommandSchema = z
  .object({
    kind: z.literal('profile').describe('Command kind (optional: a device may refuse it with DEVICE_UNSUPPORTED).'),
    ...common,
    metric: z.enum(['latency', 'energy']).describe('What to measure: latency (ms) or energy (mW).'),
    durationMs: DurationMsSchema.positive()
      .max(3_600_000)
      .optional()
      .describe('Measure for this long, in milliseconds (>0 to 3600000). Exactly one of durationMs and samples.'),
    samples: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe('Measure this many inferences (1-1000000). Exactly one of durationMs and samples.'),
    ...measure,
  })
  .refine((c) => (c.durationMs === undefined) !== (c.samples === undefined), {
    message: "exactly one of 'durationMs' and 'samples' must be given",
    path: ['durationMs'],
  })
  .describe('Measure latency or energy of the active model, for a duration or a number of samples.')

/** Accuracy on a labelled set: the one in the model package (`dataset: 'validation'`) or one at a URL. */
export const EvaluateCommandSchema = z
  .object({
    kind: z.literal('evaluate').describe('Command kind (optional: a device may refuse it with DEVICE_UNSUPPORTED).'),
    ...common,
    dataset: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .describe("Dataset name: 'validation' = the evaluation set inside the model package; 1-64 of [A-Za-z0-9._-]."),
    url: HttpUrlSchema.optional().describe('Where to fetch the dataset when it is not the one in the package.'),
    ...measure,
  })
  .describe('Accuracy of the active model on a labelled dataset.')

/** Blue-green: make the staged candidate active. */
export const SwitchCommandSchema = z
  .object({ kind: z.literal('switch').describe('Command kind (required of every device).'), ...common })
  .describe('Blue-green: make the staged model active at once; the old active model becomes previous.')
/** Blue-green: free the slot of the model that is no longer active. */
export const DecommissionCommandSchema = z
  .object({ kind: z.literal('decommission').describe('Command kind (required of every device).'), ...common })
  .describe('Free the slot of the previous model (refused with AGENT_BUSY during a trial).')
/** Report storage, memory or slots. */
export const StatusCommandSchema = z
  .object({
    kind: z.literal('status').describe('Command kind (required: metric slots; storage and memory may be DEVICE_UNSUPPORTED).'),
    ...common,
    metric: z.enum(['storage', 'memory', 'slots']).describe('What to report.'),
  })
  .describe('Report storage, memory or the model slots.')
/** Recent log lines; with `follow`, stream further lines as replies until `followMs` passes. */
export const LogsCommandSchema = z
  .object({
    kind: z.literal('logs').describe('Command kind (optional: a device may refuse it with DEVICE_UNSUPPORTED).'),
    ...common,
    lines: z.number().int().min(1).max(10_000).default(100).describe('How many recent lines (1-10000, default 100).'),
    follow: z.boolean().default(false).describe('Keep sending new lines as further reply parts until followMs passes (default false).'),
    followMs: DurationMsSchema.max(3_600_000).default(30_000).describe('How long to follow, in milliseconds (0-3600000, default 30000).'),
  })
  .describe('Recent log lines, optionally followed.')
/** Stop a running command (a measurement) early. */
export const CancelCommandSchema = z
  .object({
    kind: z
      .literal('cancel')
      .describe('Command kind (optional: a device may refuse it with DEVICE_UNSUPPORTED; it must still honour expiresAt).'),
    ...common,
    commandId: MessageIdSchema.describe('The id of the command to stop; it ends with AGENT_CANCELLED.'),
  })
  .describe(
    'Cancel a running command: it stops at once and answers ok=false with AGENT_CANCELLED. Cancelling a finished or unknown command changes nothing.',
  )
export const PingCommandSchema = z
  .object({ kind: z.literal('ping').describe('Command kind (required of every device).'), ...common })
  .describe('Are you there? Answered with uptime and agent version.')

export const COMMAND_KINDS = [
  'rollback',
  'verify',
  'profile',
  'evaluate',
  'switch',
  'decommission',
  'status',
  'logs',
  'ping',
  'cancel',
] as const
export type CommandKind = (typeof COMMAND_KINDS)[number]
/** Kinds every device must run; the others it may refuse with `DEVICE_UNSUPPORTED`. */
export const REQUIRED_COMMAND_KINDS = [
  'ping',
  'status',
  'rollback',
  'switch',
  'decommission',
  'verify',
] as const satisfies readonly CommandKind[]

export const CommandBodySchema = z
  .discriminatedUnion('kind', [
    RollbackCommandSchema,
    VerifyCommandSchema,
    ProfileCommandSchema,
    EvaluateCommandSchema,
    SwitchCommandSchema,
    DecommissionCommandSchema,
    StatusCommandSchema,
    LogsCommandSchema,
    PingCommandSchema,
    CancelCommandSchema,
  ])
  .describe('The command, by kind. A kind the device does not know is answered ok=false with PROTO_UNKNOWN_COMMAND.')
/**
 * A command of a kind this protocol version does not define, as a newer controller may send it: the
 * envelope, `kind` and `expiresAt` are checked, the rest of the body is kept. A device answers it
 * ok=false with `PROTO_UNKNOWN_COMMAND`; brokers forward it from controllers.
 */
export const FutureCommandSchema = z.object({
  v: z.literal(1),
  type: z.literal('command'),
  id: MessageIdSchema,
  ts: EpochMsSchema,
  deviceId: DeviceIdSchema,
  body: z.looseObject({
    kind: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/),
    expiresAt: EpochMsSchema,
  }),
})
export type FutureCommand = z.output<typeof FutureCommandSchema>

/** An imperative command (QoS 1, not retained). The envelope `id` is the command id. */
export const CommandSchema = deviceEnvelope(
  'command',
  CommandBodySchema,
  'A command (controller → device, QoS 1, not retained). The envelope id is the command id; answer every command exactly once on reply.',
)
export type CommandBody = z.output<typeof CommandBodySchema>
export type CommandInput = z.input<typeof CommandBodySchema>
export type Command = z.output<typeof CommandSchema>
/** The body of one command kind, e.g. `CommandOf<'profile'>`. */
export type CommandOf<K extends CommandKind> = Extract<CommandBody, { kind: K }>
