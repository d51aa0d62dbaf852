import * as z from 'zod'
import { ClassBudgetsSchema } from '@liquid-edge/protocol'
import { METRICS } from '../telemetry/window-stats.js'

/** Device-level conditions (per device, not per window). */
export const DEVICE_METRICS = ['unresponsive', 'crashed'] as const
export const RULE_METRICS = [...METRICS, ...DEVICE_METRICS] as const
export const RULE_ACTIONS = ['alert', 'pause', 'rollback-device', 'rollback-rollout'] as const
/**
 * Metrics a `budget` comparison applies to: each device class's latency threshold, energy or memory
 * budget, and the release's minimum accuracy (the policy's `minAccuracy`, from the package's labelled set).
 */
export const BUDGET_METRICS = ['latency_avg', 'latency_p95', 'latency_p99', 'energy_avg', 'memory_bytes', 'accuracy'] as const

/**
 * One auto-rollback or alert rule. The metric is compared with a limit — it breaks above it, or below
 * it for accuracy and agreement: `absolute` → `threshold` itself; `budget` → the model's budget ×
 * (1 + threshold) (latency threshold, energy or memory budget), or for accuracy the minimum accuracy
 * × (1 − threshold); `baseline` → the baseline cohort's value × (1 + threshold).
 */
export const RuleSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
    metric: z.enum(RULE_METRICS),
    comparison: z.enum(['absolute', 'budget', 'baseline']).default('absolute'),
    threshold: z.number().min(0).max(1e12),
    /** Span of one evaluation window. For `unresponsive`: silence longer than this. */
    windowMs: z.number().int().min(1).max(86_400_000),
    /** The condition must hold over every window in this span before it fires (0: at once). */
    sustainedMs: z.number().int().min(0).max(86_400_000).default(0),
    /** Samples (inferences, or telemetry windows for energy/temperature/memory) a window needs to be judged. */
    minSamples: z.number().int().min(0).max(1e9).default(1),
    action: z.enum(RULE_ACTIONS),
    severity: z.enum(['info', 'warning', 'critical']).optional(),
  })
  .superRefine((r, ctx) => {
    const deviceRule = (DEVICE_METRICS as readonly string[]).includes(r.metric)
    if (deviceRule && r.action !== 'alert' && r.action !== 'rollback-device') {
      ctx.addIssue({ code: 'custom', path: ['action'], message: `'${r.metric}' rules act per device: use alert or rollback-device` })
    }
    if (!deviceRule && r.action === 'rollback-device') {
      ctx.addIssue({ code: 'custom', path: ['action'], message: "'rollback-device' needs a device metric (unresponsive, crashed)" })
    }
    if (r.comparison === 'budget' && !(BUDGET_METRICS as readonly string[]).includes(r.metric)) {
      ctx.addIssue({ code: 'custom', path: ['comparison'], message: `'budget' applies to ${BUDGET_METRICS.join(', ')}` })
    }
  })
export type Rule = z.output<typeof RuleSchema>
export type RuleInput = z.input<typeof RuleSchema>

/** Rules of one rollout, as stored and as the API takes them. */
export const RuleSetSchema = z.strictObject({
  rules: z.array(RuleSchema).max(100),
  /** Evaluate and report, never act. */
  dryRun: z.boolean().default(false),
  /**
   * Budgets per hardware class the budget rules judge against instead of the policy's (monitoring
   * thresholds from a recorded baseline); the device trial keeps the policy's.
   */
  budgets: ClassBudgetsSchema.optional(),
  /** Where those budgets came from, for people (a baseline's target and time). */
  basis: z.string().max(512).optional(),
})
export type RuleSet = z.output<typeof RuleSetSchema>

/**
 * The operators' runbook as rules. `scale` shortens every duration (tests, demos): 1 = the runbook.
 */
export function defaultRules(scale = 1): Rule[] {
  const t = (ms: number): number => Math.max(1, Math.round(ms * scale))
  const rules: RuleInput[] = [
    {
      name: 'error-rate',
      metric: 'error_rate',
      threshold: 0.1,
      windowMs: t(30_000),
      sustainedMs: t(120_000),
      minSamples: 50,
      action: 'rollback-rollout',
    },
    {
      name: 'latency',
      metric: 'latency_avg',
      comparison: 'budget',
      threshold: 0.5,
      windowMs: t(60_000),
      sustainedMs: t(30_000),
      minSamples: 50,
      action: 'rollback-rollout',
    },
    {
      name: 'energy',
      metric: 'energy_avg',
      comparison: 'budget',
      threshold: 0.25,
      windowMs: t(60_000),
      sustainedMs: t(30_000),
      minSamples: 3,
      action: 'rollback-rollout',
    },
    { name: 'device-crashed', metric: 'crashed', threshold: 0, windowMs: t(300_000), action: 'rollback-device' },
    { name: 'device-unresponsive', metric: 'unresponsive', threshold: 0, windowMs: t(30_000), action: 'rollback-device' },
    { name: 'error-rate-alert', metric: 'error_rate', threshold: 0.05, windowMs: t(60_000), minSamples: 50, action: 'alert' },
    {
      name: 'latency-alert',
      metric: 'latency_avg',
      comparison: 'budget',
      threshold: 0.2,
      windowMs: t(60_000),
      minSamples: 50,
      action: 'alert',
    },
    {
      name: 'energy-alert',
      metric: 'energy_avg',
      comparison: 'budget',
      threshold: 0.15,
      windowMs: t(60_000),
      minSamples: 3,
      action: 'alert',
    },
    { name: 'unresponsive-alert', metric: 'unresponsive', threshold: 0, windowMs: t(15_000), action: 'alert' },
    { name: 'memory-alert', metric: 'memory_used', threshold: 0.95, windowMs: t(60_000), minSamples: 1, action: 'alert' },
    // The accuracy gate: devices measure accuracy only when asked to evaluate the package's labelled
    // set; until then it is unknown, and one evaluation below the minimum is enough to act.
    {
      name: 'accuracy',
      metric: 'accuracy',
      comparison: 'budget',
      threshold: 0,
      windowMs: t(60_000),
      minSamples: 30,
      action: 'rollback-rollout',
    },
    {
      name: 'memory-budget-alert',
      metric: 'memory_bytes',
      comparison: 'budget',
      threshold: 0,
      windowMs: t(60_000),
      minSamples: 1,
      action: 'alert',
    },
    {
      name: 'error-rate-vs-baseline',
      metric: 'error_rate',
      comparison: 'baseline',
      threshold: 1,
      windowMs: t(60_000),
      minSamples: 50,
      action: 'alert',
    },
  ]
  return rules.map((r) => RuleSchema.parse(r))
}

export function isDeviceRule(r: Rule): boolean {
  return (DEVICE_METRICS as readonly string[]).includes(r.metric)
}
