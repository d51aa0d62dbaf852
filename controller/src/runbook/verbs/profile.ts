import { budgetFor, MEASURE_MAX_RATE_PER_S, type CommandResult } from '@liquid-edge/protocol'
import { commonReasons, type Reasons, type ReportBase } from '../report.js'
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
  /** The budget of the device's hardware class under its model (latency threshold, ms, or energy budget, mW). */
  budget: number | null
  /** Whose budget: the hardware class the model lists, or `default` (the model's own). */
  budgetClass: string | null
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
  /** Devices far from the median of their own hardware class. */
  outliers: { deviceId: string; hardware: string; value: number; median: number }[]
  results: DeviceProfile[]
}

/** The per-device value outliers and budgets are judged on: p95 latency, mean power. */
export function keyValue(metric: 'latency' | 'energy', q: Quantiles): number {
  return metric === 'latency' ? q.p95 : q.mean
}

/** Profile results to per-device rows (with their class's budget), fleet quantiles, per-hardware groups and outliers within each class. */
export async function profileRows(
  ctx: RunbookContext,
  metric: 'latency' | 'energy',
  ok: { device: { id: string; hardware: string; model: string | null }; result: ProfileResult }[],
): Promise<Pick<ProfileReport, 'fleet' | 'byHardware' | 'outliers' | 'results'>> {
  const results: DeviceProfile[] = await Promise.all(
    ok.map(async ({ device, result }) => {
      const model = modelOf(device, result.modelVersion)
      const m = await manifestOf(ctx.models, model)
      const b = m === null ? null : budgetFor(m, device.hardware)
      const budget = b === null ? null : metric === 'latency' ? b.latencyThresholdMs : b.energyBudgetMw
      const q = result.quantiles
      return {
        deviceId: device.id,
        hardware: device.hardware,
        model,
        quantiles: q,
        budget,
        budgetClass: b?.hardwareClass ?? null,
        overBudget: q !== null && budget !== null && keyValue(metric, q) > budget,
      }
    }),
  )
  const measured = results.filter((r): r is DeviceProfile & { quantiles: Quantiles } => r.quantiles !== null)
  const classes = [...groupBy(measured, (r) => r.hardware)]
  return {
    results,
    fleet: fleetQuantiles(measured.map((r) => r.quantiles)),
    byHardware: classes.map(([hardware, list]) => ({
      hardware,
      devices: list.length,
      quantiles: fleetQuantiles(list.map((r) => r.quantiles)),
    })),
    // An STM32 is not an outlier for being slower than an x86: each device is compared with its own class.
    outliers: classes.flatMap(([, list]) =>
      outliers(list, (r) => keyValue(metric, r.quantiles)).map((o) => ({
        deviceId: o.item.deviceId,
        hardware: o.item.hardware,
        value: round(o.value) ?? 0,
        median: round(o.median) ?? 0,
      })),
    ),
  }
}

/** The least time a device needs for a measurement: its duration, or its samples at the protocol's rate cap. */
export function measureMs(until: { samples?: number; durationMs?: number }): number {
  return until.durationMs ?? ((until.samples ?? 0) * 1000) / MEASURE_MAX_RATE_PER_S
}

function valueOf(metric: 'latency' | 'energy', r: DeviceProfile): number | null {
  return r.quantiles === null ? null : round(keyValue(metric, r.quantiles))
}

/**
 * Power over the energy budget, once per hardware class and budget: always the case when a device infers
 * back to back under a budget that averages its workload, so reported, never judged.
 */
function notePower(reasons: Reasons, results: readonly DeviceProfile[]): void {
  for (const list of groupBy(results, (x) => `${x.hardware}|${x.budget ?? ''}`).values()) {
    const over = list.filter((x) => x.overBudget)
    const first = over[0]
    if (first === undefined) continue
    const value = Math.max(...over.map((x) => valueOf('energy', x) ?? 0))
    reasons.note('VERDICT_POWER_BACK_TO_BACK', {
      count: over.length,
      devices: list.length,
      hardware: first.hardware,
      value,
      budget: first.budget,
    })
  }
}

/** `profile`: latency or energy by duration or samples → fleet quantiles, per-hardware breakdown, outliers, budgets. */
export async function profile(ctx: RunbookContext, req: ProfileRequest): Promise<ProfileReport> {
  const until = req.samples !== undefined ? { samples: req.samples } : { durationMs: req.durationMs ?? 10_000 }
  const timeoutMs = Math.max(req.timeoutMs, measureMs(until) + 10_000)
  const f = await fanOut<ProfileResult>(
    ctx,
    'profile',
    { ...req, timeoutMs },
    { kind: 'profile', metric: req.metric, ...until, dutyCycle: req.dutyCycle, expiresAt: 0 },
  )
  const rows = await profileRows(ctx, req.metric, f.ok)
  const reasons = commonReasons(f.base, req)
  // Latency is judged against the threshold of the device's class. Power is only reported against the energy
  // budget, once per class: a profile runs inferences back to back, while the budget is an average at the workload.
  for (const r of rows.results.filter((x) => x.overBudget && req.metric === 'latency')) {
    const values = { value: valueOf(req.metric, r), budget: r.budget, hardware: r.hardware, budgetClass: r.budgetClass }
    reasons.fail('VERDICT_LATENCY_OVER_BUDGET', values, r.deviceId)
  }
  if (req.metric === 'energy') notePower(reasons, rows.results)
  const unmeasured = rows.results.filter((r) => r.quantiles === null).map((r) => r.deviceId)
  if (unmeasured.length > 0) reasons.note('VERDICT_NOT_MEASURED', { metric: req.metric, list: unmeasured })
  for (const o of rows.outliers) reasons.note('VERDICT_OUTLIER', { hardware: o.hardware, value: o.value, median: o.median }, o.deviceId)
  return {
    ...f.base,
    metric: req.metric,
    unit: req.metric === 'latency' ? 'ms' : 'mW',
    ...rows,
    ...reasons.judgement(),
  }
}
