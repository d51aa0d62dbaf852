import * as z from 'zod'
import { DurationMsSchema, EpochMsSchema, HttpUrlSchema, ModelRefSchema, SemverSchema } from '../primitives.js'
import { deviceEnvelope } from './envelope.js'

const common = {
  /** After this instant (epoch ms) the device refuses the command with `AGENT_COMMAND_EXPIRED`. */
  expiresAt: EpochMsSchema,
}

/** Roll back: to the previous model (the standby slot, no download) or to a named version. */
export const RollbackCommandSchema = z.object({
  kind: z.literal('rollback'),
  ...common,
  to: z.discriminatedUnion('to', [
    z.object({ to: z.literal('previous') }),
    z.object({
      to: z.literal('version'),
      version: SemverSchema,
      /** Where to fetch that version when it is not resident on the device. */
      model: ModelRefSchema.optional(),
    }),
  ]),
})

export const VERIFY_SUITES = ['smoke', 'integration', 'production', 'full'] as const
/** Run a test suite on the device: smoke (golden vectors), integration (+ budgets), production (+ A/B), full. */
export const VerifyCommandSchema = z.object({
  kind: z.literal('verify'),
  ...common,
  suite: z.enum(VERIFY_SUITES),
  /** Samples for the budget checks. @defaultValue 200 */
  samples: z.number().int().min(1).max(100_000).default(200),
})

/** Measure latency or energy, for a duration or a number of samples (exactly one of them). */
export const ProfileCommandSchema = z
  .object({
    kind: z.literal('profile'),
    ...common,
    metric: z.enum(['latency', 'energy']),
    durationMs: DurationMsSchema.positive().max(3_600_000).optional(),
    samples: z.number().int().min(1).max(1_000_000).optional(),
  })
  .refine((c) => (c.durationMs === undefined) !== (c.samples === undefined), {
    message: "exactly one of 'durationMs' and 'samples' must be given",
    path: ['durationMs'],
  })

/** Accuracy on a labelled set: the one in the model package (`dataset: 'validation'`) or one at a URL. */
export const EvaluateCommandSchema = z.object({
  kind: z.literal('evaluate'),
  ...common,
  dataset: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
  url: HttpUrlSchema.optional(),
})

/** Blue-green: make the staged candidate active. */
export const SwitchCommandSchema = z.object({ kind: z.literal('switch'), ...common })
/** Blue-green: free the slot of the model that is no longer active. */
export const DecommissionCommandSchema = z.object({ kind: z.literal('decommission'), ...common })
/** Report storage, memory or slots. */
export const StatusCommandSchema = z.object({
  kind: z.literal('status'),
  ...common,
  metric: z.enum(['storage', 'memory', 'slots']),
})
/** Recent log lines; with `follow`, stream further lines as replies until `followMs` passes. */
export const LogsCommandSchema = z.object({
  kind: z.literal('logs'),
  ...common,
  lines: z.number().int().min(1).max(10_000).default(100),
  follow: z.boolean().default(false),
  followMs: DurationMsSchema.max(3_600_000).default(30_000),
})
export const PingCommandSchema = z.object({ kind: z.literal('ping'), ...common })

export const COMMAND_KINDS = ['rollback', 'verify', 'profile', 'evaluate', 'switch', 'decommission', 'status', 'logs', 'ping'] as const
export type CommandKind = (typeof COMMAND_KINDS)[number]

export const CommandBodySchema = z.discriminatedUnion('kind', [
  RollbackCommandSchema,
  VerifyCommandSchema,
  ProfileCommandSchema,
  EvaluateCommandSchema,
  SwitchCommandSchema,
  DecommissionCommandSchema,
  StatusCommandSchema,
  LogsCommandSchema,
  PingCommandSchema,
])
/** An imperative command (QoS 1, not retained). The envelope `id` is the command id. */
export const CommandSchema = deviceEnvelope('command', CommandBodySchema)
export type CommandBody = z.output<typeof CommandBodySchema>
export type CommandInput = z.input<typeof CommandBodySchema>
export type Command = z.output<typeof CommandSchema>
/** The body of one command kind, e.g. `CommandOf<'profile'>`. */
export type CommandOf<K extends CommandKind> = Extract<CommandBody, { kind: K }>
