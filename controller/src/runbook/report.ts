import * as z from 'zod'
import type { DeviceAnswer, FanoutResult } from './fanout.js'
import type { TargetDevice } from './target.js'

/** Verdicts: `pass` and `fail` are judgements; `partial` never appears alone (see `partial`). */
export const VerdictSchema = z.enum(['pass', 'fail'])
export type Verdict = z.infer<typeof VerdictSchema>

export const UnreachableSchema = z.object({ deviceId: z.string(), hardware: z.string(), reason: z.string() })
export const DeviceErrorSchema = z.object({ deviceId: z.string(), hardware: z.string(), code: z.string(), message: z.string() })

/** Every runbook report has these fields; each verb adds its own. */
export const ReportBaseSchema = z.object({
  verb: z.string(),
  target: z.string(),
  startedAt: z.number(),
  finishedAt: z.number(),
  /** Devices in the target. */
  devices: z.number().int(),
  /** Devices that gave a final answer (ok or error). */
  answered: z.number().int(),
  unreachable: z.array(UnreachableSchema),
  errors: z.array(DeviceErrorSchema),
  /** True when some devices did not answer: the figures cover only the devices that did. */
  partial: z.boolean(),
  verdict: VerdictSchema,
  /** Why the verdict is what it is, one line each. */
  reasons: z.array(z.string()),
})
export type ReportBase = z.infer<typeof ReportBaseSchema>

/** A streamed line of a runbook request (`application/x-ndjson`). */
export const StreamLineSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('progress'), deviceId: z.string(), status: z.string(), done: z.number(), total: z.number() }),
  z.object({ type: z.literal('log'), deviceId: z.string(), ts: z.number(), level: z.string(), msg: z.string() }),
  z.object({ type: z.literal('report'), report: ReportBaseSchema.loose() }),
  z.object({ type: z.literal('error'), error: z.object({ code: z.string(), message: z.string() }) }),
])
export type StreamLine = z.infer<typeof StreamLineSchema>

export interface JudgeOptions {
  allowUnreachable: boolean
}

/** The common part of a report from a fan-out: who answered, who failed, who was unreachable. */
export function baseReport(
  verb: string,
  target: string,
  devices: readonly TargetDevice[],
  run: FanoutResult | null,
  startedAt: number,
  finishedAt: number,
): Omit<ReportBase, 'verdict' | 'reasons'> {
  const hw = new Map(devices.map((d) => [d.id, d.hardware]))
  const answers: DeviceAnswer[] = run?.answers ?? []
  return {
    verb,
    target,
    startedAt,
    finishedAt,
    devices: devices.length,
    answered: answers.filter((a) => a.status !== 'unreachable').length,
    unreachable: answers
      .filter((a) => a.status === 'unreachable')
      .map((a) => ({ deviceId: a.deviceId, hardware: hw.get(a.deviceId) ?? 'unknown', reason: a.reason ?? 'timeout' })),
    errors: answers
      .filter((a) => a.status === 'error')
      .map((a) => ({
        deviceId: a.deviceId,
        hardware: hw.get(a.deviceId) ?? 'unknown',
        code: a.error?.code ?? 'UNKNOWN',
        message: a.error?.message ?? '',
      })),
    partial: answers.some((a) => a.status === 'unreachable'),
  }
}

/** Reasons every verb shares: unreachable devices (failing unless allowed), device errors, no answers at all. */
export function commonReasons(base: Omit<ReportBase, 'verdict' | 'reasons'>, o: JudgeOptions): { fail: string[]; note: string[] } {
  const fail: string[] = []
  const note: string[] = []
  const n = base.unreachable.length
  if (n > 0) {
    const line = `${n} of ${base.devices} devices unreachable: ${base.unreachable.map((u) => `${u.deviceId} (${u.reason})`).join(', ')}`
    if (o.allowUnreachable) note.push(`${line} — allowed`)
    else fail.push(line)
  }
  if (base.errors.length > 0)
    fail.push(`${base.errors.length} devices failed the command: ${base.errors.map((e) => `${e.deviceId} ${e.code}`).join(', ')}`)
  if (base.answered === 0) fail.push('no device answered')
  return { fail, note }
}

export function verdictOf(fail: readonly string[]): Verdict {
  return fail.length === 0 ? 'pass' : 'fail'
}
