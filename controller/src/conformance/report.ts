import * as z from 'zod'

/** How a check ended: `unsupported` is an optional part the device declines with `DEVICE_UNSUPPORTED` — not a failure. */
export const CHECK_STATUSES = ['pass', 'fail', 'skip', 'unsupported'] as const
export type CheckStatus = (typeof CHECK_STATUSES)[number]

export const CheckResultSchema = z.object({
  id: z.string().describe('Check id, e.g. desired.activate.'),
  clause: z.string().describe('The clause of docs/device-contract.md it checks, e.g. §6.5.'),
  title: z.string().describe('What it checks, in a line.'),
  status: z.enum(CHECK_STATUSES),
  detail: z.string().describe('What was seen: the evidence for the status.'),
  elapsedMs: z.number().describe('How long the check took, milliseconds.'),
})
export type CheckResult = z.infer<typeof CheckResultSchema>

export const ConformanceReportSchema = z.object({
  deviceId: z.string(),
  /** The two model versions the kit moved the device between. */
  models: z.array(z.string()),
  startedAt: z.number(),
  finishedAt: z.number(),
  /** No check failed (skipped and unsupported ones do not fail a device). */
  passed: z.boolean(),
  counts: z.record(z.enum(CHECK_STATUSES), z.number()),
  checks: z.array(CheckResultSchema),
})
export type ConformanceReport = z.infer<typeof ConformanceReportSchema>

/** Something only the operator can do (cut the device's network or power), announced before the kit waits for it. */
export const OperatorActionSchema = z.object({
  kind: z.enum(['disconnect', 'reconnect']),
  deviceId: z.string(),
  /** The connection that carries the device: its own id, or its gateway's. */
  connection: z.string(),
  prompt: z.string(),
  /** How long the kit waits for it to happen, milliseconds. */
  timeoutMs: z.number(),
})
export type OperatorAction = z.infer<typeof OperatorActionSchema>

/** One line of `POST /v1/conformance` answered as NDJSON. */
export const ConformanceLineSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('check'), check: CheckResultSchema }),
  z.object({ type: z.literal('action'), action: OperatorActionSchema }),
  z.object({ type: z.literal('report'), report: ConformanceReportSchema }),
  z.object({ type: z.literal('error'), error: z.object({ code: z.string(), message: z.string() }) }),
])
export type ConformanceLine = z.infer<typeof ConformanceLineSchema>

/** A failed expectation inside a check, with what was seen. */
export class CheckFailure extends Error {
  override readonly name = 'CheckFailure'
  constructor(
    message: string,
    readonly status: 'fail' | 'skip' | 'unsupported' = 'fail',
  ) {
    super(message)
  }
}

/** Fail the check unless `condition` holds. */
export function expectThat(condition: boolean, message: string): asserts condition {
  if (!condition) throw new CheckFailure(message)
}

/** End the check as skipped: it cannot be judged on this device or in this run. */
export function skip(why: string): never {
  throw new CheckFailure(why, 'skip')
}
