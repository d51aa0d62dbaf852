import * as z from 'zod'
import { ReasonSchema, reason, type Reason, type ReasonCode, type ReasonValues } from '@liquid-edge/protocol'
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
  /** Why the verdict is what it is: reason codes with their figures (and their sentences, for people). */
  reasons: z.array(ReasonSchema),
})
export type ReportBase = z.infer<typeof ReportBaseSchema>

/** A streamed line of a runbook request (`application/x-ndjson`). */
export const StreamLineSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('progress'), deviceId: z.string(), status: z.string(), done: z.number(), total: z.number() }),
  /** A device's measurement so far (a long profile or benchmark). */
  z.object({ type: z.literal('partial'), deviceId: z.string(), elapsedMs: z.number(), samples: z.number() }),
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

/** The reasons of one judgement, in the order they are found; the verdict follows from their severities alone. */
export class Reasons {
  readonly list: Reason[] = []

  /** A reason that fails the verdict. */
  fail(code: ReasonCode, values: ReasonValues = {}, deviceId?: string): void {
    this.list.push(reason(code, 'fail', values, deviceId))
  }

  /** Information that does not change the verdict. */
  note(code: ReasonCode, values: ReasonValues = {}, deviceId?: string): void {
    this.list.push(reason(code, 'note', values, deviceId))
  }

  /** Reasons of another judgement (e.g. the benchmark inside a compare). */
  add(reasons: readonly Reason[]): void {
    this.list.push(...reasons)
  }

  /** Failing reasons first, then notes. */
  sorted(): Reason[] {
    return [...this.list.filter((r) => r.severity === 'fail'), ...this.list.filter((r) => r.severity === 'note')]
  }

  get verdict(): Verdict {
    return this.list.some((r) => r.severity === 'fail') ? 'fail' : 'pass'
  }

  /** The `verdict` and `reasons` fields of a report. */
  judgement(): { verdict: Verdict; reasons: Reason[] } {
    return { verdict: this.verdict, reasons: this.sorted() }
  }
}

/** Reasons every verb shares: unreachable devices (failing unless allowed), device errors, no answers at all. */
export function commonReasons(base: Omit<ReportBase, 'verdict' | 'reasons'>, o: JudgeOptions): Reasons {
  const reasons = new Reasons()
  const n = base.unreachable.length
  if (n > 0) {
    const values = { count: n, devices: base.devices, list: base.unreachable.map((u) => `${u.deviceId} (${u.reason})`) }
    if (o.allowUnreachable) reasons.note('VERDICT_UNREACHABLE_ALLOWED', values)
    else reasons.fail('VERDICT_UNREACHABLE', values)
  }
  if (base.errors.length > 0) {
    // The device's own message is the root cause (e.g. which evaluation set a package lacks): show it.
    const list = base.errors.map((e) => `${e.deviceId} ${e.code}: ${e.message}`)
    reasons.fail('VERDICT_DEVICE_ERRORS', { count: base.errors.length, list, codes: [...new Set(base.errors.map((e) => e.code))] })
  }
  if (base.answered === 0) reasons.fail('VERDICT_NO_ANSWER')
  return reasons
}
