import * as z from 'zod'
import type { CommandResult } from '@liquid-edge/protocol'
import { commonReasons, verdictOf, type ReportBase } from '../report.js'
import { groupBy, median, round } from '../stats.js'
import { BaselineSchema, matchGroup } from './benchmark.js'
import { fanOut, type RunbookContext } from './context.js'
import { profileRows } from './profile.js'

type ProfileResult = Extract<CommandResult, { kind: 'profile' }>

export const AnalyzeRequestSchema = z.strictObject({
  target: z.string().min(1).max(2048),
  timeoutMs: z.number().int().min(100).max(7_200_000).default(30_000),
  allowUnreachable: z.boolean().default(false),
  metric: z.enum(['performance']).default('performance'),
  samples: z.number().int().min(1).max(1_000_000).default(200),
  /** Compare against this baseline; without it, against each model's latency threshold. */
  baseline: BaselineSchema.optional(),
  /** Excess over the reference that counts as a regression. */
  tolerance: z.number().min(0).max(10).default(0.1),
})
export type AnalyzeRequest = z.output<typeof AnalyzeRequestSchema>

export interface Suspect {
  deviceId: string
  hardware: string
  model: string | null
  p95: number
  reference: number
  referenceFrom: 'baseline' | 'threshold' | 'fleet-median'
  /** p95 / reference − 1. */
  excess: number
}

export interface AnalyzeReport extends ReportBase {
  metric: 'performance'
  /** Hardware classes ranked by their share of the fleet's total excess latency. */
  hardware: { hardware: string; devices: number; regressed: number; meanExcess: number; share: number }[]
  /** Devices ranked by excess. */
  suspects: Suspect[]
}

/**
 * `analyze --metric performance`: profile p95 latency on every device, compare each with a reference
 * (the baseline of its hardware class, else its model's threshold, else the fleet median), and rank
 * the hardware classes and devices that explain the regression by their share of the excess.
 */
export async function analyze(ctx: RunbookContext, req: AnalyzeRequest): Promise<AnalyzeReport> {
  const f = await fanOut<ProfileResult>(ctx, 'analyze', req, { kind: 'profile', metric: 'latency', samples: req.samples, expiresAt: 0 })
  const rows = await profileRows(ctx, 'latency', f.ok)
  const measured = rows.results.flatMap((r) => (r.quantiles === null ? [] : [{ ...r, p95: r.quantiles.p95 }]))
  const fleetMedian = median(measured.map((r) => r.p95)) ?? 0
  const suspects: Suspect[] = measured.map((r) => {
    const b = req.baseline === undefined ? null : matchGroup(req.baseline, { model: r.model, hardware: r.hardware })
    const [reference, referenceFrom] =
      b?.latencyMs != null
        ? [b.latencyMs.p95, 'baseline' as const]
        : r.budget !== null
          ? [r.budget, 'threshold' as const]
          : [fleetMedian, 'fleet-median' as const]
    return {
      deviceId: r.deviceId,
      hardware: r.hardware,
      model: r.model,
      p95: round(r.p95) ?? 0,
      reference: round(reference) ?? 0,
      referenceFrom,
      excess: round(reference > 0 ? r.p95 / reference - 1 : 0) ?? 0,
    }
  })
  suspects.sort((a, b) => b.excess - a.excess)
  const totalExcess = suspects.reduce((a, s) => a + Math.max(0, s.excess), 0)
  const hardware = [...groupBy(suspects, (s) => s.hardware)]
    .map(([hw, list]) => {
      const excess = list.reduce((a, s) => a + Math.max(0, s.excess), 0)
      return {
        hardware: hw,
        devices: list.length,
        regressed: list.filter((s) => s.excess > req.tolerance).length,
        meanExcess: round(list.reduce((a, s) => a + s.excess, 0) / list.length) ?? 0,
        share: round(totalExcess === 0 ? 0 : excess / totalExcess) ?? 0,
      }
    })
    .sort((a, b) => b.share - a.share || b.meanExcess - a.meanExcess)
  const { fail, note } = commonReasons(f.base, req)
  const regressed = suspects.filter((s) => s.excess > req.tolerance)
  if (regressed.length > 0) {
    const top = hardware[0]
    fail.push(
      `${regressed.length} devices regressed by more than ${round(req.tolerance * 100, 1)}%: ${regressed.map((s) => `${s.deviceId} +${round(s.excess * 100, 1)}%`).join(', ')}`,
    )
    if (top !== undefined) note.push(`${top.hardware} explains ${round(top.share * 100, 1)}% of the excess latency`)
  }
  return { ...f.base, metric: 'performance', hardware, suspects, verdict: verdictOf(fail), reasons: [...fail, ...note] }
}
