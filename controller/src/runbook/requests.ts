import * as z from 'zod'
import { VERIFY_SUITES } from '@liquid-edge/protocol'

const common = {
  /** A device id or a label selector. */
  target: z.string().min(1).max(2048),
  /** How long to wait for the devices. */
  timeoutMs: z.number().int().min(100).max(7_200_000).default(30_000),
  /** Unreachable devices are listed but do not fail the verdict. */
  allowUnreachable: z.boolean().default(false),
}

/** The share of each device's time a measurement may take (application inferences keep priority). */
const measure = {
  dutyCycle: z.number().min(0.01).max(1).default(0.25),
}

export const VerifyRequestSchema = z.strictObject({
  ...common,
  ...measure,
  suite: z.enum(VERIFY_SUITES).default('smoke'),
  samples: z.number().int().min(1).max(100_000).default(200),
  /** production/full: fail a staged candidate that agrees with the active model on fewer golden inputs than this. Absent: agreement is reported, not judged. */
  minAgreement: z.number().min(0).max(1).optional(),
})

export const ProfileRequestSchema = z
  .strictObject({
    ...common,
    ...measure,
    metric: z.enum(['latency', 'energy']),
    durationMs: z.number().int().positive().max(3_600_000).optional(),
    samples: z.number().int().min(1).max(1_000_000).optional(),
  })
  .refine((r) => r.durationMs === undefined || r.samples === undefined, { message: 'give --duration or --samples, not both' })

export const EvaluateRequestSchema = z.strictObject({
  ...common,
  ...measure,
  dataset: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/)
    .default('validation'),
  /** Overrides the model's own minimum accuracy. */
  minAccuracy: z.number().min(0).max(1).optional(),
})

export const HealthRequestSchema = z.strictObject({
  ...common,
  /** Telemetry span the error rate, temperature and memory are read over. */
  windowMs: z.number().int().min(1000).max(86_400_000).default(300_000),
  /** A device not heard from for this long counts as stale. */
  staleMs: z.number().int().min(1000).max(86_400_000).default(120_000),
  maxErrorRate: z.number().min(0).max(1).default(0.05),
  maxTemperatureC: z.number().default(85),
  maxMemoryShare: z.number().min(0).max(1).default(0.95),
})

export const BenchmarkRequestSchema = z.strictObject({
  ...common,
  ...measure,
  durationMs: z.number().int().min(100).max(3_600_000).default(60_000),
})

export const LogsRequestSchema = z.strictObject({
  ...common,
  lines: z.number().int().min(1).max(10_000).default(100),
  follow: z.boolean().default(false),
  followMs: z.number().int().min(100).max(3_600_000).default(30_000),
})

export const ScenarioRequestSchema = z.strictObject({
  ...common,
  scenario: z.enum(['end-to-end']).default('end-to-end'),
})

export type VerifyRequest = z.output<typeof VerifyRequestSchema>
export type ProfileRequest = z.output<typeof ProfileRequestSchema>
export type EvaluateRequest = z.output<typeof EvaluateRequestSchema>
export type HealthRequest = z.output<typeof HealthRequestSchema>
export type BenchmarkRequest = z.output<typeof BenchmarkRequestSchema>
export type LogsRequest = z.output<typeof LogsRequestSchema>
export type ScenarioRequest = z.output<typeof ScenarioRequestSchema>
