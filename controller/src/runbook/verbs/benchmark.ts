import * as z from 'zod'
import { BASELINE_FORMAT, BaselineSchema, errorRate, type Baseline, type BaselineGroup, type CommandResult } from '@liquid-edge/protocol'
import { commonReasons, Reasons, type ReportBase } from '../report.js'
import { BenchmarkRequestSchema } from '../requests.js'
import { groupBy, round } from '../stats.js'
import { fanOut, type RunbookContext } from './context.js'
import { fleetQuantiles, profileRows, type Quantiles } from './profile.js'

type ProfileResult = Extract<CommandResult, { kind: 'profile' }>

// The file format is the protocol's: the CLI reads it too, and docs/protocol publishes it.
export { BaselineSchema, type Baseline, type BaselineGroup } from '@liquid-edge/protocol'

export interface BenchmarkReport extends ReportBase {
  baseline: Baseline
}

/** `benchmark`: profile latency and energy for `durationMs` on every device at once, plus telemetry error rates → a baseline. */
export async function benchmark(ctx: RunbookContext, req: z.output<typeof BenchmarkRequestSchema>): Promise<BenchmarkReport> {
  const timeoutMs = Math.max(req.timeoutMs, req.durationMs + 10_000)
  // One measurement per device: latency and power come from the same samples.
  const run = await fanOut<ProfileResult>(
    ctx,
    'benchmark',
    { ...req, timeoutMs },
    { kind: 'profile', metric: 'energy', durationMs: req.durationMs, dutyCycle: req.dutyCycle, expiresAt: 0 },
  )
  // Older agents send only the metric asked for (power).
  const pick = (r: ProfileResult, metric: 'latency' | 'energy') =>
    (metric === 'latency' ? r.latencyMs : r.powerMw) ?? (r.metric === metric ? r.quantiles : null)
  const as = (metric: 'latency' | 'energy') => run.ok.map((o) => ({ ...o, result: { ...o.result, quantiles: pick(o.result, metric) } }))
  const [latRows, enRows] = await Promise.all([profileRows(ctx, 'latency', as('latency')), profileRows(ctx, 'energy', as('energy'))])
  const energyOf = new Map(enRows.results.map((r) => [r.deviceId, r.quantiles]))
  const recent = await ctx.telemetry.devices(
    latRows.results.map((r) => r.deviceId),
    req.durationMs + 2000,
  )
  const devices = latRows.results.map((r) => {
    const t = recent.get(r.deviceId)
    return {
      deviceId: r.deviceId,
      hardware: r.hardware,
      model: r.model,
      latencyMs: r.quantiles,
      energyMw: energyOf.get(r.deviceId) ?? null,
      errorRate: round(t?.errorRate ?? null),
      inferences: t?.inferences ?? 0,
      failures: t?.errors ?? 0,
    }
  })
  const groups = [...groupBy(devices, (d) => `${d.model ?? 'none'}|${d.hardware}`)].map(([, list]) => {
    const inferences = list.reduce((a, d) => a + d.inferences, 0)
    const errors = list.reduce((a, d) => a + d.failures, 0)
    const first = list[0]
    return {
      model: first?.model ?? null,
      hardware: first?.hardware ?? 'unknown',
      devices: list.length,
      latencyMs: fleetQuantiles(list.flatMap((d) => (d.latencyMs === null ? [] : [d.latencyMs]))),
      energyMw: fleetQuantiles(list.flatMap((d) => (d.energyMw === null ? [] : [d.energyMw]))),
      errorRate: round(errorRate({ inferences, errors })),
      inferences,
    }
  })
  const base = { ...run.base, finishedAt: ctx.clock.now() }
  const reasons = commonReasons(base, req)
  if (ctx.signal?.aborted === true) reasons.fail('VERDICT_CANCELLED', { elapsedMs: base.finishedAt - base.startedAt })
  return {
    ...base,
    baseline: {
      format: BASELINE_FORMAT,
      version: 1,
      createdAt: base.finishedAt,
      target: req.target,
      durationMs: req.durationMs,
      groups,
      devices: devices.map(({ inferences: _i, failures: _f, ...d }) => d),
    },
    ...reasons.judgement(),
  }
}

export const CompareRequestSchema = BenchmarkRequestSchema.extend({
  baseline: BaselineSchema,
  /** Relative change of latency or power that counts as a regression. */
  tolerance: z.number().min(0).max(10).default(0.1),
  /** Absolute change of the error rate that counts as a regression. */
  errorRateTolerance: z.number().min(0).max(1).default(0.01),
})
export type CompareRequest = z.output<typeof CompareRequestSchema>

export interface MetricDiff {
  hardware: string
  model: string | null
  baselineModel: string | null
  metric: string
  baseline: number | null
  current: number | null
  change: number | null
  verdict: 'better' | 'same' | 'worse' | 'no-data'
}

/** The baseline group to compare a current group with: same model and hardware, else same hardware. */
export function matchGroup(baseline: Baseline, g: { model: string | null; hardware: string }): BaselineGroup | null {
  return (
    baseline.groups.find((b) => b.model === g.model && b.hardware === g.hardware) ??
    baseline.groups.filter((b) => b.hardware === g.hardware).sort((a, b) => b.devices - a.devices)[0] ??
    null
  )
}

function diff(
  metric: string,
  b: number | null,
  c: number | null,
  relTol: number,
  absolute: boolean,
): Pick<MetricDiff, 'metric' | 'baseline' | 'current' | 'change' | 'verdict'> {
  if (b === null || c === null) return { metric, baseline: b, current: c, change: null, verdict: 'no-data' }
  const change = absolute ? c - b : b === 0 ? (c === 0 ? 0 : Infinity) : (c - b) / b
  const verdict = change > relTol ? 'worse' : change < -relTol ? 'better' : 'same'
  return { metric, baseline: b, current: c, change: round(change), verdict }
}

export interface CompareReport extends ReportBase {
  tolerance: number
  metrics: MetricDiff[]
  current: Baseline
}

/** `compare`: a fresh benchmark against a baseline file; a verdict per metric, failing on any regression. */
export async function compare(ctx: RunbookContext, req: CompareRequest): Promise<CompareReport> {
  const { baseline, tolerance, errorRateTolerance, ...bench } = req
  const now = await benchmark(ctx, bench)
  const metrics: MetricDiff[] = []
  for (const g of now.baseline.groups) {
    const b = matchGroup(baseline, g)
    const head = { hardware: g.hardware, model: g.model, baselineModel: b?.model ?? null }
    const q = (x: Quantiles | null | undefined, k: keyof Quantiles): number | null => (x === null || x === undefined ? null : x[k])
    for (const k of ['p50', 'p95', 'p99'] as const)
      metrics.push({ ...head, ...diff(`latency.${k}`, q(b?.latencyMs, k), q(g.latencyMs, k), tolerance, false) })
    metrics.push({ ...head, ...diff('energy.mean', q(b?.energyMw, 'mean'), q(g.energyMw, 'mean'), tolerance, false) })
    metrics.push({ ...head, ...diff('errorRate', b?.errorRate ?? null, g.errorRate, errorRateTolerance, true) })
  }
  const reasons = new Reasons()
  reasons.add(now.reasons)
  for (const m of metrics.filter((x) => x.verdict === 'worse')) {
    const change = m.change === null ? '' : `${m.change > 0 ? '+' : ''}${round(m.change * 100, 1) ?? 0}%`
    reasons.fail('VERDICT_REGRESSION', {
      hardware: m.hardware,
      metric: m.metric,
      baseline: round(m.baseline),
      current: round(m.current),
      change,
    })
  }
  if (metrics.every((m) => m.verdict === 'no-data')) reasons.note('VERDICT_NOTHING_COMPARED')
  const { baseline: current, ...rest } = now
  return { ...rest, verb: 'compare', tolerance, metrics, current, ...reasons.judgement() }
}
