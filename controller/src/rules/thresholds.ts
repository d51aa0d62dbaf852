import type { Redis } from 'ioredis'
import * as z from 'zod'
import { ClassBudgetsSchema, isFleetError, type ClassBudgets } from '@liquid-edge/protocol'
import type { Baseline } from '../runbook/verbs/benchmark.js'
import type { RuleSet } from './rule.js'

/**
 * Monitoring thresholds from a recorded baseline (`liquid-lln monitor --update-thresholds --baseline
 * baseline.json`, the file `benchmark --output` writes): per hardware class, the measured mean
 * latency and mean power become the budgets the rules judge against (so "latency > threshold + 50%"
 * reads "+ 50% over the baseline"). Error-rate rules stay absolute, as the runbook has them. The
 * device trial and `verify` keep the package's budgets: these are the monitoring's.
 */
export interface Thresholds {
  /** Budgets per hardware class for the rules (latency threshold, energy budget). */
  budgets: ClassBudgets
}

/** Per class, the group with the most devices (a baseline may hold several model versions of a class). */
export function thresholdsOf(baseline: Baseline): Thresholds {
  const byClass = new Map<string, Baseline['groups'][number]>()
  for (const g of baseline.groups) {
    const seen = byClass.get(g.hardware)
    if (seen === undefined || g.devices > seen.devices) byClass.set(g.hardware, g)
  }
  const budgets: ClassBudgets = {}
  for (const [hw, g] of byClass) {
    const latency = g.latencyMs?.mean
    const power = g.energyMw?.mean
    budgets[hw] = {
      ...(latency !== undefined && latency > 0 ? { latencyThresholdMs: latency } : {}),
      ...(power !== undefined && power > 0 ? { energyBudgetMw: power } : {}),
    }
  }
  return { budgets }
}

/** A rule set whose budget rules judge each hardware class against these thresholds. */
export function withThresholds(set: RuleSet, t: Thresholds, basis: string): RuleSet {
  return { ...set, budgets: t.budgets, basis }
}

/** Thresholds saved for a scope: a target (group, selector, device) and optionally one model. */
export const ThresholdRecordSchema = z.object({
  /** The target as typed (or the baseline's own target). */
  scope: z.string().max(2048),
  /** Only rollouts of this model name; null: any model. */
  model: z.string().max(128).nullable(),
  budgets: ClassBudgetsSchema,
  /** Where they came from, for people: the baseline's target, when it was recorded and for how long. */
  basis: z.string().max(512),
  setAt: z.number().int(),
})
export type ThresholdRecord = z.infer<typeof ThresholdRecordSchema>

/** Thresholds per scope in Redis; the next rollouts on a scope's devices are judged against them. */
export class ThresholdsStore {
  private readonly key: string
  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = `${prefix}:thresholds`
  }

  async save(r: ThresholdRecord): Promise<void> {
    await this.redis.hset(this.key, `${r.scope}|${r.model ?? '*'}`, JSON.stringify(ThresholdRecordSchema.parse(r)))
  }

  async list(): Promise<ThresholdRecord[]> {
    const raw = Object.values(await this.redis.hgetall(this.key))
    return raw.flatMap((s) => {
      const r = ThresholdRecordSchema.safeParse(JSON.parse(s))
      return r.success ? [r.data] : []
    })
  }

  /**
   * The record for a rollout of `model` on `devices`: among those of that model (or any model) whose
   * scope holds every one of the devices, the narrowest scope, then the newest.
   */
  async match(model: string, devices: readonly string[], devicesOf: (scope: string) => Promise<string[]>): Promise<ThresholdRecord | null> {
    let best: { r: ThresholdRecord; size: number } | null = null
    for (const r of await this.list()) {
      if (r.model !== null && r.model !== model) continue
      const scope = new Set(
        await devicesOf(r.scope).catch((err: unknown) => {
          if (isGone(err)) return []
          throw err
        }),
      )
      if (devices.length === 0 || !devices.every((d) => scope.has(d))) continue
      const better = best === null || scope.size < best.size || (scope.size === best.size && r.setAt > best.r.setAt)
      if (better) best = { r, size: scope.size }
    }
    return best?.r ?? null
  }
}

/** A scope that names nothing any more (a removed group, devices gone) holds no device. */
function isGone(err: unknown): boolean {
  return isFleetError(err, 'ROLLOUT_NO_DEVICES') || isFleetError(err, 'REGISTRY_GROUP_NOT_FOUND')
}
