import {
  addLatency,
  averagePowerMw,
  emptyLatency,
  latencyQuantiles,
  latencyStats,
  mergeLatency,
  type LatencyStats,
  type ModelId,
  type TelemetryBody,
} from '@liquid-edge/protocol'
import type { SensorReadings } from '../ports.js'

/**
 * Inferences the device ran outside the agent — an MCU's own inference loop behind a gateway —
 * handed to the agent so they count in telemetry and in the trial like its own.
 */
export interface OutsideSamples {
  /** Inference attempts, failed ones included. */
  attempts: number
  /** Failed attempts (a subset of `attempts`). */
  errors: number
  /** Latency of the successful attempts; `null` when there were none or they were not timed. */
  latency: LatencyStats | null
  /** Energy those inferences used, J; `null` when unknown. */
  energyJoules: number | null
}

/** Aggregates inferences into one telemetry window at a time: counts, sums and a mergeable latency histogram. */
export class TelemetryWindow {
  private latency = emptyLatency()
  private inferences = 0
  private errors = 0
  private inferenceJoules = 0
  private energyKnown = 0
  private compared = 0
  private agreed = 0
  private evaluation: { samples: number; correct: number } | null = null
  private meterJoules = 0
  private meterMs = 0
  private meterReadings = 0
  /** When the meter was last read (kept across windows: the next reading covers the time since). */
  private meterAt: number | null = null
  start: number

  constructor(start: number) {
    this.start = start
  }

  /** One inference attempt; `latencyMs: null` = it failed. `inferences` counts attempts, failed ones included. */
  record(latencyMs: number | null, energyMj: number | null): void {
    this.inferences++
    if (latencyMs === null) {
      this.errors++
      return
    }
    addLatency(this.latency, latencyMs)
    if (energyMj !== null) {
      this.inferenceJoules += energyMj / 1000
      this.energyKnown++
    }
  }

  /** Inferences run outside the agent (see {@link OutsideSamples}). */
  recordOutside(s: OutsideSamples): void {
    this.inferences += s.attempts
    this.errors += s.errors
    if (s.latency !== null) {
      mergeLatency(this.latency, s.latency)
      if (s.energyJoules !== null) {
        this.inferenceJoules += s.energyJoules
        this.energyKnown += s.latency.count
      }
    }
  }

  /**
   * A power meter reading at `at` (epoch ms): its average power (mW) covers the time since the
   * previous reading, whoever took it, so every reading counts once and the energy stays exact.
   */
  recordMeter(powerMw: number, at: number): void {
    const measuredMs = at - (this.meterAt ?? this.start)
    this.meterAt = at
    if (!(measuredMs > 0) || !(powerMw >= 0)) return
    this.meterJoules += (powerMw * measuredMs) / 1e6
    this.meterMs += measuredMs
    this.meterReadings++
  }

  /** One live input also run on the previous model: did both choose the same class? */
  recordAgreement(agreed: boolean): void {
    this.compared++
    if (agreed) this.agreed++
  }

  /** An evaluation on the package's labelled set finished. */
  recordEvaluation(samples: number, correct: number): void {
    const e = this.evaluation ?? { samples: 0, correct: 0 }
    this.evaluation = { samples: e.samples + samples, correct: e.correct + correct }
  }

  private energy(windowMs: number): TelemetryBody['energy'] {
    const perInferenceMj = this.energyKnown > 0 ? (this.inferenceJoules * 1000) / this.energyKnown : null
    if (this.meterReadings > 0) {
      const avgMw = averagePowerMw(this.meterJoules, this.meterMs) ?? 0
      return { avgMw, perInferenceMj, joules: this.meterJoules, measuredMs: this.meterMs, source: 'meter' }
    }
    if (this.energyKnown === 0) return null
    // No power meter: the energy of the inferences alone (idle power unknown), over the window.
    const avgMw = averagePowerMw(this.inferenceJoules, windowMs) ?? 0
    return { avgMw, perInferenceMj, joules: this.inferenceJoules, measuredMs: windowMs, source: 'inferences' }
  }

  /** Close the window at `now` and start the next one. */
  close(now: number, seq: number, model: ModelId | null, readings: SensorReadings | null, hardware: string): TelemetryBody {
    const windowMs = Math.max(1, now - this.start)
    const t = readings?.temperatureC ?? null
    const body: TelemetryBody = {
      seq,
      windowStart: this.start,
      windowMs,
      model,
      inferences: this.inferences,
      errors: this.errors,
      latency: latencyStats(this.latency),
      latencyMs: latencyQuantiles(this.latency),
      energy: this.energy(windowMs),
      temperatureC: t,
      temperature: t === null ? null : { maxC: t, meanC: t, samples: 1 },
      memory: readings?.memory ?? null,
      ...(this.compared > 0 ? { agreement: { compared: this.compared, agreed: this.agreed } } : {}),
      ...(this.evaluation === null ? {} : { evaluation: this.evaluation }),
      hardware,
      dropped: 0,
    }
    this.start = now
    this.latency = emptyLatency()
    this.inferences = 0
    this.errors = 0
    this.inferenceJoules = 0
    this.energyKnown = 0
    this.compared = 0
    this.agreed = 0
    this.evaluation = null
    this.meterJoules = 0
    this.meterMs = 0
    this.meterReadings = 0
    return body
  }
}
