import { averagePowerMw, errorRate, isOptional, type Budget, type BudgetMeasure } from '@liquid-edge/protocol'
import { LOWER_IS_WORSE, isApproximate, mergeStats, metricOf, type WindowMetric, type WindowStats } from '../telemetry/window-stats.js'
import type { DeviceShare } from '../telemetry/window-store.js'
import type { Rule } from './rule.js'

/**
 * A window's verdict. No data (nothing reported, too few samples) and unknown (the devices report,
 * but cannot make this measure) are their own outcomes: never healthy, and they never fire.
 */
export type RuleOutcome = 'healthy' | 'breached' | 'no-data' | 'unknown'

export interface Bucket {
  bucket: number
  stats: WindowStats
}

/**
 * Measures the devices make themselves: a window without them means the device cannot (no power
 * meter, no memory figure) or did not (accuracy: nobody asked it to evaluate) — unknown, not no data.
 */
const DEVICE_MEASURES: Partial<Record<Rule['metric'], BudgetMeasure>> = {
  energy_avg: 'energy',
  memory_used: 'memory',
  memory_bytes: 'memory',
  accuracy: 'accuracy',
}

/** Everything a rule is judged on; plain data, so evaluation is a pure function. */
export interface RuleContext {
  now: number
  bucketMs: number
  /** Buckets of the cohort on the rollout's model, any order, covering the longest rule span. */
  candidate: readonly Bucket[]
  /** Buckets of the baseline cohort (devices still on the old model), or null when there is none. */
  baseline: readonly Bucket[] | null
  /** The budgets of the hardware class judged (see the protocol's `budgetFor`). */
  budgets: Budget
}

export interface RuleResult {
  rule: string
  metric: Rule['metric']
  comparison: Rule['comparison']
  action: Rule['action']
  outcome: RuleOutcome
  /** Breached in every window of the `sustainedMs` span: the rule acts. */
  firing: boolean
  /** How long it has been breached without interruption (whole buckets). */
  breachedForMs: number
  observed: number | null
  threshold: number | null
  baseline: number | null
  sampleSize: number
  windowStart: number
  windowMs: number
  /** Devices that tipped it (device rules; windowed rules fill it from per-device shares). */
  devices: string[]
  /** The value rests on windows of older agents that sent latency quantiles only. */
  approximate: boolean
  /** The hardware class judged (budget rules are judged per class); null when judged over the whole cohort. */
  hardware: string | null
  /** The class whose budgets applied: the device class when the policy names it, else `default`. */
  budgetClass: string | null
  /** For `unknown`: the policy marks the measure optional for this class, so no gate fails on it. */
  optional: boolean
  /** Devices silent while switching models, inside their grace: not counted (the unresponsive rule). */
  graced: string[]
  graceMs: number | null
}

function statsIn(buckets: readonly Bucket[], start: number, end: number): WindowStats {
  return mergeStats(buckets.filter((b) => b.bucket >= start && b.bucket < end).map((b) => b.stats))
}

/** The limit a value is compared with, or null when it cannot be known (no budget, no baseline data). */
export function limitOf(rule: Rule, budgets: Budget, baseline: number | null): number | null {
  if (rule.comparison === 'absolute') return rule.threshold
  if (rule.comparison === 'budget') {
    if (rule.metric === 'accuracy') return budgets.minAccuracy === null ? null : budgets.minAccuracy * (1 - rule.threshold)
    const budget =
      rule.metric === 'energy_avg'
        ? budgets.energyBudgetMw
        : rule.metric === 'memory_bytes'
          ? budgets.memoryBudgetBytes
          : budgets.latencyThresholdMs
    return budget === null ? null : budget * (1 + rule.threshold)
  }
  if (baseline === null) return null
  // One percentage point of slack on error rates, so that a spotless baseline does not make every error a breach.
  return baseline * (1 + rule.threshold) + (rule.metric === 'error_rate' ? 0.01 : 0)
}

interface Point {
  approximate: boolean
  outcome: RuleOutcome
  observed: number | null
  threshold: number | null
  baseline: number | null
  samples: number
  start: number
}

function point(rule: Rule, ctx: RuleContext, end: number): Point {
  const span = Math.ceil(rule.windowMs / ctx.bucketMs) * ctx.bucketMs
  const start = end - span
  const metric = rule.metric as WindowMetric
  const stats = statsIn(ctx.candidate, start, end)
  const m = metricOf(metric, stats, span)
  let base: number | null = null
  if (rule.comparison === 'baseline' && ctx.baseline !== null) {
    const b = metricOf(metric, statsIn(ctx.baseline, start, end), span)
    base = b.value !== null && b.samples >= rule.minSamples ? b.value : null
  }
  const threshold = limitOf(rule, ctx.budgets, base)
  let outcome: RuleOutcome = 'no-data'
  if (m.value !== null && threshold !== null && m.samples >= Math.max(1, rule.minSamples))
    outcome = breaks(metric, m.value, threshold) ? 'breached' : 'healthy'
  else if (m.value === null && DEVICE_MEASURES[rule.metric] !== undefined && stats.windows > 0) outcome = 'unknown'
  return { outcome, observed: m.value, threshold, baseline: base, samples: m.samples, start, approximate: isApproximate(metric, stats) }
}

/** A value breaks its limit: above it, or below it for metrics where lower is worse (accuracy). */
export function breaks(metric: Rule['metric'], value: number, limit: number): boolean {
  return LOWER_IS_WORSE.has(metric as WindowMetric) ? value < limit : value > limit
}

/**
 * Judge a windowed rule at `ctx.now` over complete buckets only. It fires when every window
 * ending in the last `sustainedMs` is breached, so a spike shorter than that never fires.
 */
export function evaluateRule(rule: Rule, ctx: RuleContext): RuleResult {
  const end = Math.floor(ctx.now / ctx.bucketMs) * ctx.bucketMs
  const points = Math.ceil(rule.sustainedMs / ctx.bucketMs) + 1
  const latest = point(rule, ctx, end)
  let streak = latest.outcome === 'breached' ? 1 : 0
  for (let k = 1; k < points && streak === k; k++) if (point(rule, ctx, end - k * ctx.bucketMs).outcome === 'breached') streak++
  return {
    rule: rule.name,
    metric: rule.metric,
    comparison: rule.comparison,
    action: rule.action,
    outcome: latest.outcome,
    firing: streak >= points,
    breachedForMs: Math.max(0, streak - 1) * ctx.bucketMs,
    observed: latest.observed,
    threshold: latest.threshold,
    baseline: latest.baseline,
    sampleSize: latest.samples,
    windowStart: latest.start,
    windowMs: end - latest.start,
    devices: [],
    approximate: latest.approximate,
    hardware: null,
    budgetClass: rule.comparison === 'budget' ? ctx.budgets.hardwareClass : null,
    optional: latest.outcome === 'unknown' && isOptional(ctx.budgets, DEVICE_MEASURES[rule.metric] ?? 'energy'),
    graced: [],
    graceMs: null,
  }
}

type TippingShare = Pick<
  DeviceShare,
  | 'deviceId'
  | 'inferences'
  | 'errors'
  | 'latencySum'
  | 'latencyCount'
  | 'energyJoules'
  | 'energyMs'
  | 'compared'
  | 'agreed'
  | 'evaluated'
  | 'correct'
>

/** A device's own value of a metric from its shares; null when its shares cannot tell. */
function shareValue(metric: Rule['metric'], d: TippingShare): number | null {
  switch (metric) {
    case 'error_rate':
      return errorRate(d)
    case 'latency_avg':
    case 'latency_p95':
    case 'latency_p99':
      // Shares keep sums, not histograms: a device's mean stands for its latency.
      return d.latencyCount > 0 ? d.latencySum / d.latencyCount : null
    case 'energy_avg':
      return averagePowerMw(d.energyJoules, d.energyMs)
    case 'agreement':
      return d.compared > 0 ? d.agreed / d.compared : null
    case 'accuracy':
      return d.evaluated > 0 ? d.correct / d.evaluated : null
    default:
      return null
  }
}

/** Devices whose own value over the window breaks `limit`, worst first (at most 1,000). */
export function tippingDevices(metric: Rule['metric'], shares: readonly TippingShare[], limit: number): string[] {
  const sign = LOWER_IS_WORSE.has(metric as WindowMetric) ? -1 : 1
  return shares
    .map((d) => ({ id: d.deviceId, v: shareValue(metric, d) }))
    .filter((x): x is { id: string; v: number } => x.v !== null && breaks(metric, x.v, limit))
    .sort((a, b) => sign * (b.v - a.v) || (a.id < b.id ? -1 : 1))
    .slice(0, 1000)
    .map((x) => x.id)
}
