import * as z from 'zod'
import type { Rule, RuleSet } from './rule.js'

/**
 * A recorded baseline (`liquid-lln monitor --update-thresholds --baseline baseline.json`): what the
 * model measured on healthy devices. Every field is optional; rules of absent metrics are kept.
 */
export const BaselineSchema = z.strictObject({
  /** Average latency (ms). Latency rules become absolute: baseline × (1 + their margin). */
  latencyMs: z.number().positive().max(3_600_000).optional(),
  /** Average power (mW). Energy rules become absolute: baseline × (1 + their margin). */
  energyMw: z.number().positive().max(1e9).optional(),
  /** Error rate (0–1). Error-rate rules become baseline + their threshold (percentage points). */
  errorRate: z.number().min(0).max(1).optional(),
  /** Peak memory use as a share of total (0–1). Memory rules become baseline + 5 points (at most 1). */
  memoryUsed: z.number().min(0).max(1).optional(),
})
export type Baseline = z.output<typeof BaselineSchema>

function retarget(r: Rule, b: Baseline): Rule {
  if (r.comparison === 'baseline') return r
  if ((r.metric === 'latency_avg' || r.metric === 'latency_p95') && b.latencyMs !== undefined) {
    const margin = r.comparison === 'budget' ? r.threshold : 0.5
    return { ...r, comparison: 'absolute', threshold: b.latencyMs * (1 + margin) }
  }
  if (r.metric === 'energy_avg' && b.energyMw !== undefined) {
    const margin = r.comparison === 'budget' ? r.threshold : 0.25
    return { ...r, comparison: 'absolute', threshold: b.energyMw * (1 + margin) }
  }
  if (r.metric === 'error_rate' && b.errorRate !== undefined) return { ...r, threshold: Math.min(1, b.errorRate + r.threshold) }
  if (r.metric === 'memory_used' && b.memoryUsed !== undefined) return { ...r, threshold: Math.min(1, b.memoryUsed + 0.05) }
  return r
}

/** Rules with thresholds set from a recorded baseline (pure); error-rate thresholds add to the baseline. */
export function applyBaseline(set: RuleSet, b: Baseline): RuleSet {
  return { ...set, rules: set.rules.map((r) => retarget(r, b)) }
}
