import { FleetError, type Policy } from '@liquid-edge/protocol'
import { LogHistogram } from '../telemetry/log-histogram.js'

/** The numbers a trial is judged on. */
export interface TrialStats {
  samples: number
  errors: number
  errorRate: number
  p95LatencyMs: number | null
  avgPowerMw: number | null
}

/**
 * Watches the application's inferences during a trial and judges them against the policy
 * (MCUboot's test/confirm idea, with the runbook's rules): error rate above `maxErrorRate`, p95
 * latency above threshold × (1 + latencyTolerance), average power above budget × (1 + energyTolerance).
 */
export class TrialMonitor {
  private readonly latency = new LogHistogram()
  private errors = 0
  private powerSum = 0
  private powerSamples = 0

  constructor(readonly policy: Policy) {}

  record(latencyMs: number | null): void {
    if (latencyMs === null) this.errors++
    else this.latency.record(latencyMs)
  }

  recordPower(mw: number | null): void {
    if (mw === null) return
    this.powerSum += mw
    this.powerSamples++
  }

  stats(): TrialStats {
    const samples = this.latency.count + this.errors
    return {
      samples,
      errors: this.errors,
      errorRate: samples === 0 ? 0 : this.errors / samples,
      p95LatencyMs: this.latency.count === 0 ? null : this.latency.quantile(0.95),
      avgPowerMw: this.powerSamples === 0 ? null : this.powerSum / this.powerSamples,
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

  /** Full check (each telemetry window and at the end of the trial): the first broken rule, or `null`. */
  breach(): FleetError | null {
    const err = this.errorBreach()
    if (err !== null) return err
    const p = this.policy
    const s = this.stats()
    const latencyLimit = p.latencyThresholdMs * (1 + p.latencyTolerance)
    if (this.latency.count >= p.minSamples && s.p95LatencyMs !== null && s.p95LatencyMs > latencyLimit) {
      return new FleetError('AGENT_TRIAL_LATENCY', `p95 latency ${s.p95LatencyMs.toFixed(3)} ms over ${latencyLimit} ms`, {
        details: { observed: s.p95LatencyMs, threshold: latencyLimit, samples: this.latency.count },
      })
    }
    if (p.energyBudgetMw !== null && s.avgPowerMw !== null) {
      const limit = p.energyBudgetMw * (1 + p.energyTolerance)
      if (s.avgPowerMw > limit) {
        return new FleetError('AGENT_TRIAL_ENERGY', `average power ${s.avgPowerMw.toFixed(1)} mW over ${limit} mW`, {
          details: { observed: s.avgPowerMw, threshold: limit, samples: this.powerSamples },
        })
      }
    }
    return null
  }
}
