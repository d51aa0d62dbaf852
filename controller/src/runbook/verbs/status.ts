import * as z from 'zod'
import type { CommandResult } from '@liquid-edge/protocol'
import { commonReasons, type ReportBase } from '../report.js'
import { round } from '../stats.js'
import { fanOut, type RunbookContext } from './context.js'

type StatusResult = Extract<CommandResult, { kind: 'status' }>

export const StatusRequestSchema = z.strictObject({
  target: z.string().min(1).max(2048),
  timeoutMs: z.number().int().min(100).max(600_000).default(10_000),
  allowUnreachable: z.boolean().default(false),
  metric: z.enum(['storage', 'memory', 'slots']),
  /** Below this free share of storage or system memory a device fails. */
  minFreeShare: z.number().min(0).max(1).default(0.05),
})
export type StatusRequest = z.output<typeof StatusRequestSchema>

export interface StatusReport extends ReportBase {
  metric: StatusRequest['metric']
  results: ({ deviceId: string; hardware: string; freeShare: number | null } & Omit<StatusResult, 'kind'>)[]
}

/** `status --metric storage|memory|slots`: ask each device; fail when free storage or memory is below `minFreeShare`. */
export async function status(ctx: RunbookContext, req: StatusRequest): Promise<StatusReport> {
  const f = await fanOut<StatusResult>(ctx, 'status', req, { kind: 'status', metric: req.metric, expiresAt: 0 })
  const results = f.ok.map(({ device, result }) => {
    const { kind: _k, ...rest } = result
    const free =
      result.storage !== undefined && result.storage.totalBytes > 0
        ? result.storage.freeBytes / result.storage.totalBytes
        : result.memory !== undefined && result.memory.systemTotalBytes > 0
          ? result.memory.systemFreeBytes / result.memory.systemTotalBytes
          : null
    return { deviceId: device.id, hardware: device.hardware, freeShare: round(free), ...rest }
  })
  const reasons = commonReasons(f.base, req)
  for (const r of results)
    if (r.freeShare !== null && r.freeShare < req.minFreeShare)
      reasons.fail('VERDICT_LOW_FREE', { freePct: round(r.freeShare * 100, 1), metric: req.metric }, r.deviceId)
  return { ...f.base, metric: req.metric, results, ...reasons.judgement() }
}
