import * as z from 'zod'
import { ErrorPayloadSchema } from '../errors/fleet-error.js'
import { ReasonValuesSchema, WireReasonCodeSchema } from '../errors/reasons.js'
import { CountSchema, EpochMsSchema, MeasureSchema, MessageIdSchema, SemverSchema } from '../primitives.js'
import { SlotSchema } from './reported.js'
import { VERIFY_SUITES } from './command.js'
import { deviceEnvelope } from './envelope.js'

/** Quantiles of a profile run. */
export const QuantilesSchema = z
  .object({
    samples: CountSchema.describe('Measurements taken.'),
    mean: MeasureSchema.describe('Arithmetic mean, in the reply unit.'),
    p50: MeasureSchema.describe('Median, in the reply unit.'),
    p95: MeasureSchema.describe('95th percentile, in the reply unit.'),
    p99: MeasureSchema.describe('99th percentile, in the reply unit.'),
    max: MeasureSchema.describe('Largest measurement, in the reply unit.'),
  })
  .describe('Distribution of the measurements, in the unit named by the reply (ms or mW).')

const ObservedSchema = z.number().min(-1e12).max(1e12)

export const VerifyCheckSchema = z
  .object({
    name: z.string().max(64).describe('Check name, e.g. golden, latency, energy.'),
    passed: z.boolean().describe('Whether the check passed.'),
    observed: ObservedSchema.nullable().optional().describe('What was measured (unit by check: ms for latency, mW for energy), or null.'),
    threshold: ObservedSchema.nullable().optional().describe('The limit it was judged against, same unit, or null.'),
    code: WireReasonCodeSchema.optional().describe(
      'Why the check came out as it did: a CHECK_ reason code (docs/errors.md). Older agents omit it; readers then go by passed.',
    ),
    values: ReasonValuesSchema.optional(),
    detail: z.string().max(512).optional().describe('The sentence rendered from code and values, for people; never parse it.'),
  })
  .describe('One check of a verify suite.')

const SlotsSchema = z.array(SlotSchema).max(2).describe('The model slots after the command (at most two: A and B).')
const ActiveVersionSchema = SemverSchema.describe('The version active after the command.')
const ModelVersionSchema = SemverSchema.describe('The version of the model measured.')

/** The result of each command kind. */
export const CommandResultSchema = z
  .discriminatedUnion('kind', [
    z
      .object({
        kind: z.literal('ping').describe('Answers a ping.'),
        uptimeMs: MeasureSchema.describe('Milliseconds since the device agent started.'),
        agentVersion: z.string().max(64).describe('Version of the device software.'),
      })
      .describe('Result of ping.'),
    z
      .object({
        kind: z.literal('rollback').describe('Answers a rollback.'),
        activeVersion: ActiveVersionSchema,
        slots: SlotsSchema,
        changed: z.boolean().describe('False when the device already ran the target (a repeated rollback).'),
      })
      .describe('Result of rollback.'),
    z
      .object({
        kind: z.literal('switch').describe('Answers a switch.'),
        activeVersion: ActiveVersionSchema,
        slots: SlotsSchema,
        changed: z.boolean().describe('False when the staged model was already switched to (a repeated switch).'),
      })
      .describe('Result of switch.'),
    z
      .object({
        kind: z.literal('decommission').describe('Answers a decommission.'),
        slots: SlotsSchema,
        freedBytes: CountSchema.describe('Bytes of storage freed (0 when there was no previous model).'),
      })
      .describe('Result of decommission.'),
    z
      .object({
        kind: z.literal('verify').describe('Answers a verify.'),
        suite: z.enum(VERIFY_SUITES).describe('The suite that ran.'),
        passed: z.boolean().describe('True when every check passed.'),
        modelVersion: ModelVersionSchema,
        checks: z.array(VerifyCheckSchema).max(64).describe('Each check with its evidence.'),
      })
      .describe('Result of verify.'),
    z
      .object({
        kind: z.literal('profile').describe('Answers a profile.'),
        metric: z.enum(['latency', 'energy']).describe('What was measured.'),
        /** `ms` for latency, `mW` for energy. */
        unit: z.enum(['ms', 'mW']).describe('Unit of the quantiles: ms for latency, mW for energy.'),
        modelVersion: ModelVersionSchema,
        /** `null` when the device cannot measure the metric (no energy sensor). */
        quantiles: QuantilesSchema.nullable().describe(
          'null when the device cannot measure the metric (no energy sensor): unknown, not zero.',
        ),
        latencyMs: QuantilesSchema.nullable()
          .optional()
          .describe('Latency of the same samples, ms, whichever metric was asked (null when none ran).'),
        powerMw: QuantilesSchema.nullable()
          .optional()
          .describe('Power while inferring of the same samples, mW, whichever metric was asked (null: no energy sensor).'),
        elapsedMs: MeasureSchema.optional().describe('How long the measurement has run, ms (a partial result reports it so far).'),
      })
      .describe('Result of profile (a part with final=false is the measurement so far).'),
    z
      .object({
        kind: z.literal('evaluate').describe('Answers an evaluate.'),
        dataset: z.string().max(64).describe('The dataset evaluated.'),
        modelVersion: ModelVersionSchema,
        samples: CountSchema.describe('Labelled samples run.'),
        correct: CountSchema.describe('Samples whose largest output is the label.'),
        accuracy: z.number().min(0).max(1).describe('correct ÷ samples, 0-1.'),
      })
      .describe('Result of evaluate (a part with final=false is the evaluation so far).'),
    z
      .object({
        kind: z.literal('cancel').describe('Answers a cancel.'),
        commandId: MessageIdSchema.describe('The command asked to stop.'),
        cancelled: z.boolean().describe('True when that command was running and now stops; false when it had finished or is unknown.'),
      })
      .describe('Result of cancel.'),
    z
      .object({
        kind: z.literal('status').describe('Answers a status.'),
        storage: z
          .object({
            totalBytes: CountSchema.describe('Storage size in bytes.'),
            freeBytes: CountSchema.describe('Free storage in bytes.'),
            usedByModelsBytes: CountSchema.describe('Bytes used by resident model packages.'),
          })
          .optional()
          .describe('For metric storage.'),
        memory: z
          .object({
            rssBytes: CountSchema.describe(
              'Resident memory of the agent process, bytes (behind a gateway or in a simulator: the process that speaks for the device, not the device).',
            ),
            heapUsedBytes: CountSchema.describe('Heap in use by the agent process, bytes (the same process as rssBytes).'),
            systemTotalBytes: CountSchema.describe("The device's total memory, bytes (an MCU behind a gateway: its RAM)."),
            systemFreeBytes: CountSchema.describe("The device's free memory, bytes."),
            measuredOn: z
              .enum(['device', 'host'])
              .optional()
              .describe(
                "device: the device's own figures, read by its driver; host: the machine the agent runs on, because the driver cannot tell. Absent from older agents.",
              ),
          })
          .optional()
          .describe('For metric memory.'),
        slots: SlotsSchema.optional().describe('For metric slots: the model slots and their roles.'),
      })
      .describe('Result of status: the part the metric asked for.'),
    z
      .object({
        kind: z.literal('logs').describe('Answers a logs command.'),
        lines: z
          .array(
            z
              .object({
                ts: EpochMsSchema.describe('When the line was logged, epoch milliseconds.'),
                level: z.enum(['debug', 'info', 'warn', 'error']).describe('Severity.'),
                msg: z.string().max(4096).describe('The log message.'),
              })
              .describe('One log line.'),
          )
          .max(10_000)
          .describe('Log lines, oldest first.'),
      })
      .describe('Result of logs (one part).'),
  ])
  .describe('The result, by command kind.')
export type CommandResult = z.output<typeof CommandResultSchema>

const replyCommon = {
  commandId: MessageIdSchema.describe("The envelope id of the command this answers (the command's id)."),
  part: CountSchema.default(0).describe('Part number of a streamed answer (logs with follow, long measurements), from 0; default 0.'),
  final: z.boolean().default(true).describe('True on the last (or only) part; default true.'),
}

/**
 * The answer to a command, correlated by `commandId`. A streaming command (logs with follow) sends
 * several replies with growing `part`; the last has `final: true`.
 */
export const ReplyBodySchema = z
  .discriminatedUnion('ok', [
    z
      .object({ ...replyCommon, ok: z.literal(true).describe('The command ran.'), result: CommandResultSchema })
      .describe('A successful answer.'),
    z
      .object({
        ...replyCommon,
        ok: z.literal(false).describe('The command was refused or failed.'),
        error: ErrorPayloadSchema.describe(
          'Why: AGENT_COMMAND_EXPIRED, PROTO_UNKNOWN_COMMAND (unknown kind), DEVICE_UNSUPPORTED (optional kind not implemented), AGENT_BUSY, …',
        ),
      })
      .describe('A refusal or failure.'),
  ])
  .describe('The answer to one command. A repeated command id gets the first answer again, without running twice.')
export const ReplySchema = deviceEnvelope(
  'reply',
  ReplyBodySchema,
  'The answer to a command (device → controller, QoS 1, not retained), correlated by body.commandId.',
)
export type ReplyBody = z.output<typeof ReplyBodySchema>
export type Reply = z.output<typeof ReplySchema>
