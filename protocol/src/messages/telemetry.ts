import * as z from 'zod'
import { CountSchema, DurationMsSchema, EpochMsSchema, LabelValueSchema, MeasureSchema, ModelIdSchema } from '../primitives.js'
import { LatencyStatsSchema } from '../stats.js'
import { deviceEnvelope } from './envelope.js'

/** Latency quantiles of one window, in ms (a summary: `latency` carries the mergeable statistics). */
export const LatencySchema = z
  .object({
    p50: MeasureSchema.describe('Median latency in milliseconds.'),
    p95: MeasureSchema.describe('95th-percentile latency in milliseconds.'),
    p99: MeasureSchema.describe('99th-percentile latency in milliseconds.'),
    max: MeasureSchema.describe('Largest latency in milliseconds.'),
  })
  .describe('Latency quantiles of the successful inferences of the window, in milliseconds.')

/** The shortest telemetry window on the wire. */
export const MIN_WINDOW_MS = 10

const CelsiusSchema = z.number().min(-273.15).max(1000)

/** Energy of one window: what was measured and over how long, so any set of windows averages exactly. */
export const EnergySchema = z
  .object({
    avgMw: MeasureSchema.describe('Average power over the window, milliwatts (joules ÷ measuredMs when both are sent).'),
    perInferenceMj: MeasureSchema.nullable().describe('Energy per inference, millijoules; null when unknown.'),
    joules: MeasureSchema.optional().describe(
      'Energy used over measuredMs, joules: summed over windows and divided by their summed measuredMs, it gives the exact average power. Absent from older agents.',
    ),
    measuredMs: DurationMsSchema.optional().describe('The span the energy was measured over, milliseconds (at most a year).'),
    source: z
      .enum(['meter', 'inferences'])
      .optional()
      .describe("meter: the board's power meter (idle power included); inferences: the energy of the inferences alone (no meter)."),
  })
  .describe('Power and energy; null when the device has no power sensor (unknown, never 0).')

/** Temperature readings of one window. */
export const TemperatureSchema = z
  .object({
    maxC: CelsiusSchema.describe('Highest reading of the window, °C (-273.15 to 1000).'),
    meanC: CelsiusSchema.describe('Mean of the readings, °C (-273.15 to 1000).'),
    samples: CountSchema.min(1).describe('Readings taken in the window (count, at least 1).'),
  })
  .refine((t) => t.meanC <= t.maxC + 1e-9, { message: "'meanC' must not exceed 'maxC'", path: ['meanC'] })
  .describe('Temperature readings of the window; null without a sensor.')

/** Live inputs also run on the previous model, and how many of its answers matched. */
export const AgreementSchema = z
  .object({
    compared: CountSchema.describe('Live inputs also run on the previous model (count).'),
    agreed: CountSchema.describe('Of those, inputs where both models chose the same class, i.e. the same largest output (count).'),
  })
  .refine((a) => a.agreed <= a.compared, { message: "'agreed' must not exceed 'compared'", path: ['agreed'] })
  .describe('Shadow runs of the previous model on a share of live inputs, when the policy asks for them.')

/** The device's evaluation of the active model on the package's labelled set, when one finished in the window. */
export const EvaluationSchema = z
  .object({
    samples: CountSchema.describe('Labelled samples evaluated (count).'),
    correct: CountSchema.describe('Of those, samples whose largest output was the label (count).'),
  })
  .refine((e) => e.correct <= e.samples, { message: "'correct' must not exceed 'samples'", path: ['correct'] })
  .describe("An evaluation of the active model on the package's labelled set that finished in this window.")

/**
 * One aggregated telemetry window. Sensors a device does not have are `null` (unknown), never invented.
 * Sequence numbers grow by one per window; a gap means lost windows.
 */
export const TelemetryBodySchema = z
  .object({
    seq: CountSchema.describe('Window sequence number: +1 per window, never reused (also across reboots); a gap means lost windows.'),
    windowStart: EpochMsSchema.describe('When the window began, epoch milliseconds.'),
    windowMs: z
      .number()
      .min(MIN_WINDOW_MS)
      .max(24 * 3600_000)
      .describe('Window length in milliseconds, 10 ms to 24 h (1000 by default on our agents).'),
    /** The active model during the window, `null` when none is loaded. */
    model: ModelIdSchema.nullable().describe('The active model during the window; null when none is loaded.'),
    /** Inference attempts in the window, failed ones included. */
    inferences: CountSchema.describe('Inference attempts in the window, failed ones included.'),
    /** Failed inferences (a subset of `inferences`): the error rate is `errors / inferences`. */
    errors: CountSchema.describe('Failed inferences, a subset of inferences: the error rate is errors ÷ inferences.'),
    latency: LatencyStatsSchema.nullable()
      .optional()
      .describe(
        'Mergeable latency statistics of the successful inferences (count, sum, extremes, log histogram); null without any; absent from older agents.',
      ),
    /** `null` when the window had no inferences. */
    latencyMs: LatencySchema.nullable()
      .optional()
      .describe(
        'Latency quantiles in milliseconds, a summary of latency (older agents send only these); null when the window had no successful inference.',
      ),
    /** Average power in mW and energy per inference in mJ; `null` when unknown. */
    energy: EnergySchema.nullable().describe(
      'Power and energy: joules over measuredMs (exact averages over any windows) and the average power; null when the device measures neither (unknown, never 0).',
    ),
    temperatureC: CelsiusSchema.nullable().describe('Die or board temperature in °C (-273.15 to 1000); null without a sensor.'),
    temperature: TemperatureSchema.nullable()
      .optional()
      .describe('Temperature readings of the window (highest, mean, how many), °C; null without a sensor; absent from older agents.'),
    memory: z
      .object({
        usedBytes: CountSchema.describe('Memory in use, bytes.'),
        totalBytes: CountSchema.nullable().describe('Memory available, bytes; null when unknown.'),
      })
      .nullable()
      .describe(
        "The device's own memory at the end of the window (an MCU behind a gateway reports its RAM, not the gateway's); null when unknown.",
      ),
    agreement: AgreementSchema.optional(),
    evaluation: EvaluationSchema.optional(),
    hardware: LabelValueSchema.optional().describe(
      'The hardware class the device judges itself as, e.g. stm32h743 or x86-edge: whose budgets apply to it.',
    ),
    /** Windows dropped from the offline buffer since the last telemetry sent. */
    dropped: CountSchema.default(0).describe('Windows dropped from the offline buffer (oldest first) since the last one sent; default 0.'),
  })
  .describe('One aggregated telemetry window. A measure the device cannot make is null (unknown), never invented.')
export const TelemetrySchema = deviceEnvelope(
  'telemetry',
  TelemetryBodySchema,
  'One telemetry window (device → controller and consumers, QoS 0 or 1, never retained).',
)
export type TelemetryBody = z.output<typeof TelemetryBodySchema>
export type TelemetryBodyInput = z.input<typeof TelemetryBodySchema>
export type Telemetry = z.output<typeof TelemetrySchema>
