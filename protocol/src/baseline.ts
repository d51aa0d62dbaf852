import * as z from 'zod'
import { CountSchema, DurationMsSchema, EpochMsSchema, LabelValueSchema, MeasureSchema } from './primitives.js'

/**
 * The baseline file: what `liquid-lln benchmark --output F` writes and both `compare --baseline F`
 * and `monitor --update-thresholds --baseline F` read. It is a file operators keep and move between
 * machines, so its format is published (`docs/protocol/baseline.schema.json`, `docs/baseline.md`)
 * and versioned like the package manifest.
 */
export const BASELINE_FORMAT = 'liquid-lln/baseline'

const BaselineQuantilesSchema = z
  .object({
    samples: CountSchema.describe('Measurements behind the figures.'),
    mean: MeasureSchema.describe('Arithmetic mean.'),
    p50: MeasureSchema.describe('Median.'),
    p95: MeasureSchema.describe('95th percentile.'),
    p99: MeasureSchema.describe('99th percentile.'),
    max: MeasureSchema.describe('Largest measurement.'),
  })
  .describe('Distribution of one measure over the benchmark, in the unit its field names (ms or mW).')

const ModelNameVersionSchema = z.string().max(200).nullable().describe('The model the devices ran, as name@version; null: no model.')

const LatencySchema = BaselineQuantilesSchema.nullable().describe(
  'Latency of single inferences, ms; null when no sample ran (an unreachable device, a device with no model).',
)
const PowerSchema = BaselineQuantilesSchema.nullable().describe(
  'Power while inferring, mW; null when no device could measure it (no energy sensor): unknown, not zero.',
)
const ErrorRateSchema = z
  .number()
  .min(0)
  .max(1)
  .nullable()
  .describe('Failed inferences ÷ inference attempts (0-1) in the telemetry over the run; null: no telemetry.')

export const BaselineGroupSchema = z
  .object({
    model: ModelNameVersionSchema,
    hardware: LabelValueSchema.describe('Hardware class of the group, e.g. stm32h743 or x86-edge.'),
    devices: CountSchema.describe('Devices of this model and class that answered.'),
    latencyMs: LatencySchema,
    energyMw: PowerSchema,
    errorRate: ErrorRateSchema,
    inferences: CountSchema.describe('Inference attempts in the telemetry over the run.'),
  })
  .describe('One model version on one hardware class: the unit compare and the monitoring thresholds match on.')

export const BaselineDeviceSchema = z
  .object({
    deviceId: z.string().max(64).describe('The device.'),
    hardware: LabelValueSchema.describe('Its hardware class.'),
    model: ModelNameVersionSchema,
    latencyMs: LatencySchema,
    energyMw: PowerSchema,
    errorRate: ErrorRateSchema,
  })
  .describe("One device's own figures.")

export const BaselineSchema = z
  .object({
    format: z.literal(BASELINE_FORMAT).describe(`Always '${BASELINE_FORMAT}'.`),
    version: z.literal(1).describe('Format version; 1.'),
    createdAt: EpochMsSchema.describe('When the benchmark ended, epoch milliseconds.'),
    target: z.string().max(2048).describe('The target the benchmark measured, as typed (a group, a selector, a device id).'),
    durationMs: DurationMsSchema.describe('How long each device measured, ms.'),
    groups: z.array(BaselineGroupSchema).max(10_000).describe('One entry per model version × hardware class.'),
    devices: z.array(BaselineDeviceSchema).max(1_000_000).describe('One entry per device that answered.'),
  })
  .describe('A recorded performance baseline: written by benchmark --output, read by compare and monitor --update-thresholds.')

export type Baseline = z.output<typeof BaselineSchema>
export type BaselineGroup = z.output<typeof BaselineGroupSchema>
export type BaselineDevice = z.output<typeof BaselineDeviceSchema>
