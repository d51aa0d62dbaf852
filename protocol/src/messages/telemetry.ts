import * as z from 'zod'
import { CountSchema, DurationMsSchema, EpochMsSchema, MeasureSchema, ModelIdSchema } from '../primitives.js'
import { deviceEnvelope } from './envelope.js'

/** Latency quantiles of one window, in ms, from a real histogram. */
export const LatencySchema = z.object({ p50: MeasureSchema, p95: MeasureSchema, p99: MeasureSchema, max: MeasureSchema })

/**
 * One aggregated telemetry window. Sensors a device does not have are `null` (unknown), never invented.
 * Sequence numbers grow by one per window; a gap means lost windows.
 */
export const TelemetryBodySchema = z.object({
  seq: CountSchema,
  windowStart: EpochMsSchema,
  windowMs: DurationMsSchema.positive(),
  /** The active model during the window, `null` when none is loaded. */
  model: ModelIdSchema.nullable(),
  /** Inference attempts in the window, failed ones included. */
  inferences: CountSchema,
  /** Failed inferences (a subset of `inferences`): the error rate is `errors / inferences`. */
  errors: CountSchema,
  /** `null` when the window had no inferences. */
  latencyMs: LatencySchema.nullable(),
  /** Average power in mW and energy per inference in mJ; `null` when unknown. */
  energy: z.object({ avgMw: MeasureSchema, perInferenceMj: MeasureSchema.nullable() }).nullable(),
  temperatureC: z.number().min(-273.15).max(1000).nullable(),
  memory: z.object({ usedBytes: CountSchema, totalBytes: CountSchema.nullable() }).nullable(),
  /** Windows dropped from the offline buffer since the last telemetry sent. */
  dropped: CountSchema.default(0),
})
export const TelemetrySchema = deviceEnvelope('telemetry', TelemetryBodySchema)
export type TelemetryBody = z.output<typeof TelemetryBodySchema>
export type Telemetry = z.output<typeof TelemetrySchema>
