import {
  FleetError,
  addLatency,
  budgetFor,
  isOptional,
  type Budget,
  averagePowerMw,
  emptyLatency,
  errorRate,
  latencyQuantile,
  mergeLatency,
  type Policy,
  type TelemetryBody,
} from '@liquid-edge/protocol'
import type { OutsideSamples } from '../telemetry/window.js'

/** The numbers a trial is judged on. */
export interface TrialStats {
  samples: number
  errors: number
  errorRate: number
  p95LatencyMs: number | null
  avgPowerMw: number | null
  memoryUsedMaxBytes: number | null
}

/** What the device could measure when the trial ends: what a last sensor reading says. */
export interface FinalReadings {
  powerMw: number | null
  memoryUsedBytes: number | null
}

/**
 * Watches the application's inferences during a trial and judges them against the policy's
 * budgets for this device's hardware class (MCUboot's test/confirm idea, with the runbook's rules):
 * error rate above `maxErrorRate`, p95 latency above threshold × (1 + latencyTolerance), average
 * power above budget × (1 + energyTolerance), memory in use above its budget. A budget whose
 * measure the device cannot make fails the trial at its end, unless the class marks it optional.
 */
export class TrialMonitor {
  private readonly latency = emptyLatency()
  private attempts = 0
  private errors = 0
  private joules = 0
  private measuredMs = 0
  private powerWindows = 0
  private memoryMax: number | null = null
  readonly budget: Budget

  constructor(
    readonly policy: Policy,
    hardware: string,
  ) {
    this.budget = budgetFor(policy, hardware)
  }

  record(latencyMs: number | null): void {
    this.attempts++
    if (latencyMs === null) this.errors++
    else addLatency(this.latency, latencyMs)
  }

  recordOutside(s: OutsideSamples): void {
    this.attempts += s.attempts
    this.errors += s.errors
    if (s.latency !== null) mergeLatency(this.latency, s.latency)
  }

  /** A closed telemetry window: its measured energy and memory count towards the trial's. */
  recordWindow(w: TelemetryBody): void {
    if (w.memory !== null) this.memoryMax = Math.max(this.memoryMax ?? 0, w.memory.usedBytes)
    const e = w.energy
    if (e === null) return
    this.joules += e.joules ?? (e.avgMw * w.windowMs) / 1e6
    this.measuredMs += e.measuredMs ?? w.windowMs
    this.powerWindows++
  }

  stats(): TrialStats {
    return {
      samples: this.attempts,
      errors: this.errors,
      errorRate: errorRate({ inferences: this.attempts, errors: this.errors }) ?? 0,
      p95LatencyMs: latencyQuantile(this.latency, 0.95),
      avgPowerMw: this.powerWindows === 0 ? null : averagePowerMw(this.joules, this.measuredMs),
      memoryUsedMaxBytes: this.memoryMax,
    }
  }

  /** Cheap check after each inference: only the error rate. */
  errorBreach(): FleetError | null {
    const s = this.stats()
    if (s.samples < this.policy.minSamples || s.errorRate <= this.policy.maxErrorRate) return null
    return new FleetError(
      'AGENT_TRIAL_ERROR_RATE',
      `error rate ${(s.errorRate * 100).toFixed(1)}% over ${this.policy.maxErrorRate * 100}%`,
      {
        details: { observed: s.errorRate, threshold: this.policy.maxErrorRate, samples: s.samples },
      },
    )
  }

  /**
   * Full check (each telemetry window, and at the end of the trial with `final`): the first broken
   * rule, or `null`. At the end, a budget whose measure stayed unknown breaks the trial.
   */
  breach(final: FinalReadings | null = null): FleetError | null {
    const err = this.errorBreach()
    if (err !== null) return err
    const p = this.policy
    const b = this.budget
    const s = this.stats()
    const hardwareClass = b.hardwareClass
    const latencyLimit = b.latencyThresholdMs * (1 + p.latencyTolerance)
    if (this.latency.count >= p.minSamples && s.p95LatencyMs !== null && s.p95LatencyMs > latencyLimit) {
      return new FleetError(
        'AGENT_TRIAL_LATENCY',
        `p95 latency ${s.p95LatencyMs.toFixed(3)} ms over ${latencyLimit} ms (budgets of ${hardwareClass})`,
        {
          details: { observed: s.p95LatencyMs, threshold: latencyLimit, samples: this.latency.count, hardwareClass },
        },
      )
    }
    return this.energyBreach(s.avgPowerMw ?? final?.powerMw ?? null, final !== null) ?? this.memoryBreach(final)
  }

  private energyBreach(avgPowerMw: number | null, final: boolean): FleetError | null {
    const { energyBudgetMw, hardwareClass } = this.budget
    if (energyBudgetMw === null) return null
    if (avgPowerMw === null) return final && !isOptional(this.budget, 'energy') ? unmeasured('energy', hardwareClass) : null
    const limit = energyBudgetMw * (1 + this.policy.energyTolerance)
    if (avgPowerMw <= limit) return null
    return new FleetError(
      'AGENT_TRIAL_ENERGY',
      `average power ${avgPowerMw.toFixed(1)} mW over ${limit} mW (budgets of ${hardwareClass})`,
      {
        details: { observed: avgPowerMw, threshold: limit, samples: this.powerWindows, hardwareClass },
      },
    )
  }

  private memoryBreach(final: FinalReadings | null): FleetError | null {
    const { memoryBudgetBytes, hardwareClass } = this.budget
    if (memoryBudgetBytes === null) return null
    const used = this.memoryMax ?? final?.memoryUsedBytes ?? null
    if (used === null) return final !== null && !isOptional(this.budget, 'memory') ? unmeasured('memory', hardwareClass) : null
    if (used <= memoryBudgetBytes) return null
    return new FleetError(
      'AGENT_TRIAL_MEMORY',
      `memory in use ${used} bytes over the ${memoryBudgetBytes}-byte budget of ${hardwareClass}`,
      {
        details: { observed: used, threshold: memoryBudgetBytes, hardwareClass },
      },
    )
  }
}

/** A budget the device cannot be judged on: unknown is not healthy. */
function unmeasured(measure: 'energy' | 'memory', hardwareClass: string): FleetError {
  return new FleetError(
    'AGENT_TRIAL_UNMEASURED',
    `the ${measure} budget of hardware class ${hardwareClass} cannot be checked: this device does not measure ${measure}; ` +
      `mark ${measure} optional for ${hardwareClass} in the policy's budgets to accept that`,
    { details: { measure, hardwareClass } },
  )
}
