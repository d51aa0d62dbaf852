import type { CommandResult } from '@liquid-edge/protocol'
import { commonReasons, verdictOf, type ReportBase } from '../report.js'
import type { ProfileRequest } from '../requests.js'
import { groupBy, median, outliers, quantile, round } from '../stats.js'
import { fanOut, manifestOf, modelOf, type RunbookContext } from './context.js'

type ProfileResult = Extract<CommandResult, { kind: 'profile' }>

export interface Quantiles {
  samples: number
  mean: number
  p50: number
  p95: number
  p99: number
  max: number
}

export interface DeviceProfile {
  deviceId: string
  hardware: string
  model: string | null
  quantiles: Quantiles | null
  budget: number | null
  overBudget: boolean
}

/**
 * Quantiles over several devices, each device counting once (a fast device that ran more samples
 * does not outweigh a slow one): samples is the total, mean the mean of the devices' means, p50/p95/p99
 * the median / 95th / 99th percentile of the devices' own quantiles, max the largest.
 */
export function fleetQuantiles(list: readonly Quantiles[]): Quantiles | null {
  if (list.length === 0) return null
  const samples = list.reduce((a, q) => a + q.samples, 0)
  const r = (v: number | null): number => round(v ?? 0) ?? 0
  return {
    samples,
    mean: r(list.reduce((a, q) => a + q.mean, 0) / list.length),
    p50: r(median(list.map((q) => q.p50))),
    p95: r(
      quantile(
        list.map((q) => q.p95),
        0.95,
      ),
    ),
    p99: r(
      quantile(
        list.map((q) => q.p99),
        0.99,
      ),
    ),
    max: r(Math.max(...list.map((q) => q.max))),
  }
}

export interface ProfileReport extends ReportBase {
  metric: 'latency' | 'energy'
  unit: string
  fleet: Quantiles | null
  byHardware: { hardware: string; devices: number; quantiles: Quantiles | null }[]
  outliers: { deviceId: string; hardware: string; value: number; median: number }[]
  results: DeviceProfile[]
}

/** The per-device value outliers and budgets are judged on: p95 latency, mean power. */
export function keyValue(metric: 'latency' | 'energy', q: Quantiles): number {
  return metric === 'latency' ? q.p95 : q.mean
}

/** Profile results to per-device rows (with the model's budget), fleet quantiles, per-hardware groups and outliers. */
export async function profileRows(
  ctx: RunbookContext,
  metric: 'latency' | 'energy',
  ok: { device: { id: string; hardware: string; model: string | null }; result: ProfileResult }[],
): Promise<Pick<ProfileReport, 'fleet' | 'byHardware' | 'outliers' | 'results'>> {
  const results: DeviceProfile[] = await Promise.all(
    ok.map(async ({ device, result }) => {
      const model = modelOf(device, result.modelVersion)
      const m = await manifestOf(ctx.models, model)
      const budget = m === null ? null : metric === 'latency' ? m.latencyThresholdMs : m.energyBudgetMw
      const q = result.quantiles
      return {
        deviceId: device.id,
        hardware: device.hardware,
        model,
        quantiles: q,
        budget,
        overBudget: q !== null && budget !== null && keyValue(metric, q) > budget,
      }
    }),
  )
  const measured = results.filter((r): r is DeviceProfile & { quantiles: Quantiles } => r.quantiles !== null)
  return {
    results,
    fleet: fleetQuantiles(measured.map((r) => r.quantiles)),
    byHardware: [...groupBy(measured, (r) => r.hardware)].map(([hardware, list]) => ({
      hardware,
      devices: list.length,
      quantiles: fleetQuantiles(list.map((r) => r.quantiles)),
    })),
    outliers: outliers(measured, (r) => keyValue(metric, r.quantiles)).map((o) => ({
      deviceId: o.item.deviceId,
      hardware: o.item.hardware,
      value: round(o.value) ?? 0,
      median: round(o.median) ?? 0,
    })),
  }
}

/** `profile`: latency or energy by duration or samples → fleet quantiles, per-hardware breakdown, outliers, budgets. */
export async function profile(ctx: RunbookContext, req: ProfileRequest): Promise<ProfileReport> {
  const until = req.samples !== undefined ? { samples: req.samples } : { durationMs: req.durationMs ?? 10_000 }
  const timeoutMs = Math.max(req.timeoutMs, (until.durationMs ?? 0) + 10_000)
  const f = await fanOut<ProfileResult>(
    ctx,
    'profile',
    { ...req, timeoutMs },
    { kind: 'profile', metric: req.metric, ...until, expiresAt: 0 },
  )
  const rows = await profileRows(ctx, req.metric, f.ok)
  const { fail, note } = commonReasons(f.base, req)
  // Latency is judged against the model's threshold. Power is only reported against the energy budget:
  // a profile runs inferences back to back, while the budget is an average at the model's assumed rate.
  for (const r of rows.results.filter((x) => x.overBudget)) {
    const value = r.quantiles === null ? '-' : round(keyValue(req.metric, r.quantiles))
    if (req.metric === 'latency') fail.push(`${r.deviceId}: p95 latency ${value} ms over the model's ${r.budget ?? '-'} ms threshold`)
    else note.push(`${r.deviceId}: ${value} mW while inferring back to back (the model's budget is ${r.budget ?? '-'} mW on average)`)
  }
  const unmeasured = rows.results.filter((r) => r.quantiles === null).map((r) => r.deviceId)
  if (unmeasured.length > 0) note.push(`no ${req.metric} measurement from ${unmeasured.join(', ')} (no sensor)`)
  for (const o of rows.outliers) note.push(`outlier: ${o.deviceId} (${o.hardware}) ${o.value} vs median ${o.median}`)
  return {
    ...f.base,
    metric: req.metric,
    unit: req.metric === 'latency' ? 'ms' : 'mW',
    ...rows,
    verdict: verdictOf(fail),
    reasons: [...fail, ...note],
  }
}
