import * as z from 'zod'
import { ErrorPayloadSchema } from '../errors/fleet-error.js'
import { CountSchema, EpochMsSchema, MeasureSchema, MessageIdSchema, SemverSchema } from '../primitives.js'
import { SlotSchema } from './reported.js'
import { VERIFY_SUITES } from './command.js'
import { deviceEnvelope } from './envelope.js'

/** Quantiles of a profile run. */
export const QuantilesSchema = z.object({
  samples: CountSchema,
  mean: MeasureSchema,
  p50: MeasureSchema,
  p95: MeasureSchema,
  p99: MeasureSchema,
  max: MeasureSchema,
})

export const VerifyCheckSchema = z.object({
  name: z.string().max(64),
  passed: z.boolean(),
  observed: z.number().nullable().optional(),
  threshold: z.number().nullable().optional(),
  detail: z.string().max(512).optional(),
})

const SlotsSchema = z.array(SlotSchema).max(2)

/** The result of each command kind. */
export const CommandResultSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('ping'), uptimeMs: MeasureSchema, agentVersion: z.string().max(64) }),
  z.object({ kind: z.literal('rollback'), activeVersion: SemverSchema, slots: SlotsSchema, changed: z.boolean() }),
  z.object({ kind: z.literal('switch'), activeVersion: SemverSchema, slots: SlotsSchema, changed: z.boolean() }),
  z.object({ kind: z.literal('decommission'), slots: SlotsSchema, freedBytes: CountSchema }),
  z.object({
    kind: z.literal('verify'),
    suite: z.enum(VERIFY_SUITES),
    passed: z.boolean(),
    modelVersion: SemverSchema,
    checks: z.array(VerifyCheckSchema).max(64),
  }),
  z.object({
    kind: z.literal('profile'),
    metric: z.enum(['latency', 'energy']),
    /** `ms` for latency, `mW` for energy. */
    unit: z.enum(['ms', 'mW']),
    modelVersion: SemverSchema,
    /** `null` when the device cannot measure the metric (no energy sensor). */
    quantiles: QuantilesSchema.nullable(),
  }),
  z.object({
    kind: z.literal('evaluate'),
    dataset: z.string().max(64),
    modelVersion: SemverSchema,
    samples: CountSchema,
    correct: CountSchema,
    accuracy: z.number().min(0).max(1),
  }),
  z.object({
    kind: z.literal('status'),
    storage: z.object({ totalBytes: CountSchema, freeBytes: CountSchema, usedByModelsBytes: CountSchema }).optional(),
    memory: z
      .object({ rssBytes: CountSchema, heapUsedBytes: CountSchema, systemTotalBytes: CountSchema, systemFreeBytes: CountSchema })
      .optional(),
    slots: SlotsSchema.optional(),
  }),
  z.object({
    kind: z.literal('logs'),
    lines: z
      .array(z.object({ ts: EpochMsSchema, level: z.enum(['debug', 'info', 'warn', 'error']), msg: z.string().max(4096) }))
      .max(10_000),
  }),
])
export type CommandResult = z.output<typeof CommandResultSchema>

/**
 * The answer to a command, correlated by `commandId`. A streaming command (logs with follow) sends
 * several replies with growing `part`; the last has `final: true`.
 */
export const ReplyBodySchema = z.discriminatedUnion('ok', [
  z.object({
    commandId: MessageIdSchema,
    ok: z.literal(true),
    part: CountSchema.default(0),
    final: z.boolean().default(true),
    result: CommandResultSchema,
  }),
  z.object({
    commandId: MessageIdSchema,
    ok: z.literal(false),
    part: CountSchema.default(0),
    final: z.boolean().default(true),
    error: ErrorPayloadSchema,
  }),
])
export const ReplySchema = deviceEnvelope('reply', ReplyBodySchema)
export type ReplyBody = z.output<typeof ReplyBodySchema>
export type Reply = z.output<typeof ReplySchema>
