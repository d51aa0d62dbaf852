import type { ModelId, TelemetryBody } from '@liquid-edge/protocol'
import type { SensorReadings } from '../ports.js'
import { LogHistogram } from './log-histogram.js'

/** Aggregates inferences into one telemetry window at a time. */
export class TelemetryWindow {
  private readonly latency = new LogHistogram()
  private inferences = 0
  private errors = 0
  private energyMj = 0
  private energyKnown = 0
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
    this.latency.record(latencyMs)
    if (energyMj !== null) {
      this.energyMj += energyMj
      this.energyKnown++
    }
  }

  /** Close the window at `now` and start the next one. */
  close(now: number, seq: number, model: ModelId | null, sensors: SensorReadings | null, dropped: number): TelemetryBody {
    const windowMs = Math.max(1, now - this.start)
    const h = this.latency
    const perInferenceMj = this.energyKnown > 0 ? this.energyMj / this.energyKnown : null
    let avgMw: number | null = sensors?.powerMw ?? null
    if (avgMw === null && this.energyKnown > 0) avgMw = this.energyMj / (windowMs / 1000)
    const body: TelemetryBody = {
      seq,
      windowStart: this.start,
      windowMs,
      model,
      inferences: this.inferences,
      errors: this.errors,
      latencyMs: h.count === 0 ? null : { p50: h.quantile(0.5), p95: h.quantile(0.95), p99: h.quantile(0.99), max: h.max },
      energy: avgMw === null ? null : { avgMw, perInferenceMj },
      temperatureC: sensors?.temperatureC ?? null,
      memory: sensors?.memory ?? null,
      dropped,
    }
    this.start = now
    this.inferences = 0
    this.errors = 0
    this.energyMj = 0
    this.energyKnown = 0
    h.reset()
    return body
  }
}
