import * as z from 'zod'
import type { CommandResult } from '@liquid-edge/protocol'
import { commonReasons, type ReportBase } from '../report.js'
import { groupBy, median, round } from '../stats.js'
import { BaselineSchema, matchGroup } from './benchmark.js'
import { fanOut, type RunbookContext } from './context.js'
import { measureMs, profileRows } from './profile.js'

type ProfileResult = Extract<CommandResult, { kind: 'profile' }>

export const AnalyzeRequestSchema = z.strictObject({
  target: z.string().min(1).max(2048),
  timeoutMs: z.number().int().min(100).max(7_200_000).default(30_000),
  allowUnreachable: z.boolean().default(false),
  dutyCycle: z.number().min(0.01).max(1).default(0.25),
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
  referenceFrom: 'baseline' | 'threshold' | 'class-median'
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
 * (the baseline of its hardware class, else its class's threshold, else its class's median), and rank
 * the hardware classes and devices that explain the regression by their share of the excess.
 */
export async function analyze(ctx: RunbookContext, req: AnalyzeRequest): Promise<AnalyzeReport> {
  const timeoutMs = Math.max(req.timeoutMs, measureMs({ samples: req.samples }) + 10_000)
  const body = { kind: 'profile' as const, metric: 'latency' as const, samples: req.samples, dutyCycle: req.dutyCycle, expiresAt: 0 }
  const f = await fanOut<ProfileResult>(ctx, 'analyze', { ...req, timeoutMs }, body)
  const rows = await profileRows(ctx, 'latency', f.ok)
  const measured = rows.results.flatMap((r) => (r.quantiles === null ? [] : [{ ...r, p95: r.quantiles.p95 }]))
  const classMedian = new Map([...groupBy(measured, (r) => r.hardware)].map(([hw, list]) => [hw, median(list.map((r) => r.p95)) ?? 0]))
  const suspects: Suspect[] = measured.map((r) => {
    const b = req.baseline === undefined ? null : matchGroup(req.baseline, { model: r.model, hardware: r.hardware })
    const [reference, referenceFrom] =
      b?.latencyMs != null
        ? [b.latencyMs.p95, 'baseline' as const]
        : r.budget !== null
          ? [r.budget, 'threshold' as const]
          : [classMedian.get(r.hardware) ?? 0, 'class-median' as const]
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
  const reasons = commonReasons(f.base, req)
  const regressed = suspects.filter((s) => s.excess > req.tolerance)
  if (regressed.length > 0) {
    const top = hardware[0]
    reasons.fail('VERDICT_DEVICES_REGRESSED', {
      count: regressed.length,
      tolerancePct: round(req.tolerance * 100, 1),
      list: regressed.map((s) => `${s.deviceId} +${round(s.excess * 100, 1) ?? 0}%`),
    })
    if (top !== undefined) reasons.note('VERDICT_TOP_CLASS', { hardware: top.hardware, sharePct: round(top.share * 100, 1) })
  }
  return { ...f.base, metric: 'performance', hardware, suspects, ...reasons.judgement() }
}
