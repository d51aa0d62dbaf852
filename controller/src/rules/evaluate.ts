import { mergeStats, metricOf, type WindowMetric, type WindowStats } from '../telemetry/window-stats.js'
import type { DeviceShare } from '../telemetry/window-store.js'
import type { Rule } from './rule.js'

/** A window's verdict. No data is its own outcome and never counts as healthy. */
export type RuleOutcome = 'healthy' | 'breached' | 'no-data'

export interface Bucket {
  bucket: number
  stats: WindowStats
}

export interface Budgets {
  latencyThresholdMs: number
  energyBudgetMw: number | null
}

/** Everything a rule is judged on; plain data, so evaluation is a pure function. */
export interface RuleContext {
  now: number
  bucketMs: number
  /** Buckets of the cohort on the rollout's model, any order, covering the longest rule span. */
  candidate: readonly Bucket[]
  /** Buckets of the baseline cohort (devices still on the old model), or null when there is none. */
  baseline: readonly Bucket[] | null
  budgets: Budgets
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
}

function statsIn(buckets: readonly Bucket[], start: number, end: number): WindowStats {
  return mergeStats(buckets.filter((b) => b.bucket >= start && b.bucket < end).map((b) => b.stats))
}

/** The limit a value is compared with, or null when it cannot be known (no budget, no baseline data). */
export function limitOf(rule: Rule, budgets: Budgets, baseline: number | null): number | null {
  if (rule.comparison === 'absolute') return rule.threshold
  if (rule.comparison === 'budget') {
    const budget = rule.metric === 'energy_avg' ? budgets.energyBudgetMw : budgets.latencyThresholdMs
    return budget === null ? null : budget * (1 + rule.threshold)
  }
  if (baseline === null) return null
  // One percentage point of slack on error rates, so that a spotless baseline does not make every error a breach.
  return baseline * (1 + rule.threshold) + (rule.metric === 'error_rate' ? 0.01 : 0)
}

interface Point {
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
  const m = metricOf(metric, statsIn(ctx.candidate, start, end), span)
  let base: number | null = null
  if (rule.comparison === 'baseline' && ctx.baseline !== null) {
    const b = metricOf(metric, statsIn(ctx.baseline, start, end), span)
    base = b.value !== null && b.samples >= rule.minSamples ? b.value : null
  }
  const threshold = limitOf(rule, ctx.budgets, base)
  let outcome: RuleOutcome = 'no-data'
  if (m.value !== null && threshold !== null && m.samples >= Math.max(1, rule.minSamples))
    outcome = m.value > threshold ? 'breached' : 'healthy'
  return { outcome, observed: m.value, threshold, baseline: base, samples: m.samples, start }
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
  }
}

/** Devices whose own value over the window breaks `limit`, worst first (at most 1,000). */
type TippingShare = Pick<DeviceShare, 'deviceId' | 'inferences' | 'errors' | 'latencySum' | 'powerSum' | 'powerWindows'>

export function tippingDevices(metric: Rule['metric'], shares: readonly TippingShare[], limit: number): string[] {
  const valueOf = (d: TippingShare): number | null => {
    if (metric === 'error_rate') return d.inferences > 0 ? d.errors / d.inferences : null
    if (metric === 'latency_avg' || metric === 'latency_p95') return d.inferences > 0 ? d.latencySum / d.inferences : null
    if (metric === 'energy_avg') return d.powerWindows > 0 ? d.powerSum / d.powerWindows : null
    return null
  }
  return shares
    .map((d) => ({ id: d.deviceId, v: valueOf(d) }))
    .filter((x): x is { id: string; v: number } => x.v !== null && x.v > limit)
    .sort((a, b) => b.v - a.v || (a.id < b.id ? -1 : 1))
    .slice(0, 1000)
    .map((x) => x.id)
}

/** What the rules know about one device of the candidate cohort. */
export interface DeviceFacts {
  id: string
  /** When this rollout sent it the new model. */
  dispatchedAt: number
  /** Last status: online flag and when it was received; null when unknown. */
  online: boolean | null
  statusAt: number | null
  lastTelemetryAt: number | null
  /** How often the device reports (its last telemetry window); null when unknown. */
  telemetryWindowMs: number | null
  lastCrashAt: number | null
}

/** Missed reports before a device counts as silent, whatever the rule's window. */
const SILENT_AFTER_WINDOWS = 3

/**
 * Did the device stop answering after it was sent the model: offline for longer than the window
 * since a disconnect after the dispatch (a reboot or a blip is not), or silent for longer than the
 * window (and than three of its own reporting periods) although it was heard within that span
 * before the dispatch? A device already gone at
 * the dispatch never received the model: its step counts it silent, and rolling it back would
 * only stop it from converging when it returns.
 */
export function isUnresponsive(d: DeviceFacts, now: number, windowMs: number): boolean {
  if (d.online === false && d.statusAt !== null && d.statusAt >= d.dispatchedAt) return now - d.statusAt > windowMs
  // Silence is judged against the device's own cadence too: one that reports every minute is
  // not silent 30 s after its last window.
  const silentAfter = Math.max(windowMs, SILENT_AFTER_WINDOWS * (d.telemetryWindowMs ?? 0))
  if (d.lastTelemetryAt === null || d.lastTelemetryAt < d.dispatchedAt - silentAfter) return false
  return now - d.lastTelemetryAt > silentAfter && now - d.dispatchedAt > silentAfter
}

/** Judge a device rule (unresponsive, crashed) over the candidate cohort's devices. */
export function evaluateDeviceRule(rule: Rule, devices: readonly DeviceFacts[], now: number): RuleResult {
  const tipped = devices
    .filter((d) =>
      rule.metric === 'crashed'
        ? d.lastCrashAt !== null && d.lastCrashAt >= d.dispatchedAt && now - d.lastCrashAt <= rule.windowMs
        : isUnresponsive(d, now, rule.windowMs),
    )
    .map((d) => d.id)
    .sort()
  const breached = tipped.length > rule.threshold
  const outcome: RuleOutcome = devices.length === 0 ? 'no-data' : breached ? 'breached' : 'healthy'
  return {
    rule: rule.name,
    metric: rule.metric,
    comparison: rule.comparison,
    action: rule.action,
    outcome,
    firing: breached,
    breachedForMs: 0,
    observed: tipped.length,
    threshold: rule.threshold,
    baseline: null,
    sampleSize: devices.length,
    windowStart: now - rule.windowMs,
    windowMs: rule.windowMs,
    devices: tipped.slice(0, 1000),
  }
}
