import { toErrorPayload, type FleetError, type TelemetryBody } from '@liquid-edge/protocol'
import type { AgentInternals } from '../internals.js'
import type { TrialRecord } from '../state/agent-state.js'
import type { OutsideSamples } from '../telemetry/window.js'
import type { LifecycleEvent } from './lifecycle.js'
import { TrialMonitor } from './trial.js'

/**
 * Watches the trial the lifecycle armed: counts the application's inferences and windows, and
 * sends `trial-breached` on a broken budget or `trial-confirmed` at its end. It holds no slot or
 * trial state of its own: the lifecycle decides what a verdict does (and ignores a stale one).
 */
export class TrialController {
  private monitor: TrialMonitor | null = null
  private generation = 0
  private timer: unknown = null

  constructor(
    private readonly ai: Pick<AgentInternals, 'clock' | 'driver' | 'log' | 'readSensors'>,
    private readonly send: (event: LifecycleEvent) => Promise<boolean>,
  ) {}

  get running(): boolean {
    return this.monitor !== null
  }

  /** Start judging `trial` (the lifecycle persisted it and activated its slot). */
  arm(trial: Readonly<TrialRecord>): void {
    this.disarm()
    this.monitor = new TrialMonitor(trial.policy, this.ai.driver.hardware)
    this.generation = trial.generation
    this.timer = this.ai.clock.setTimeout(
      () => {
        this.finish().catch((e: unknown) => {
          this.ai.log.write('error', 'trial could not be finished', { err: e })
        })
      },
      Math.max(0, trial.endsAt - this.ai.clock.now()),
    )
  }

  /** Stop judging (the trial ended, judged or not, or the agent closes). */
  disarm(): void {
    this.ai.clock.clearTimeout(this.timer)
    this.timer = null
    this.monitor = null
  }

  record(latencyMs: number | null): void {
    const m = this.monitor
    if (m === null) return
    m.record(latencyMs)
    if (latencyMs === null) {
      const err = m.errorBreach()
      if (err !== null) this.revertSafely(err)
    }
  }

  /** Inferences run outside the agent count in the trial too. */
  recordOutside(s: OutsideSamples): void {
    const m = this.monitor
    if (m === null) return
    m.recordOutside(s)
    if (s.errors > 0) {
      const err = m.errorBreach()
      if (err !== null) this.revertSafely(err)
    }
  }

  /** Each telemetry window: its energy, then the full check. */
  onWindow(window: TelemetryBody): void {
    const m = this.monitor
    if (m === null) return
    m.recordWindow(window)
    const err = m.breach()
    if (err !== null) this.revertSafely(err)
  }

  /**
   * End trial `generation` as failed (a broken budget, or an operator rollback to its previous
   * model): the lifecycle reverts. The samples judged so far go with the reason. False when that
   * trial had already ended.
   */
  revert(generation: number, error: FleetError): Promise<boolean> {
    const stats = this.monitor?.stats() ?? null
    this.disarm()
    const payload = toErrorPayload(error)
    if (stats !== null) payload.details = { ...payload.details, samples: stats.samples, errors: stats.errors }
    return this.send({ type: 'trial-breached', generation, error: payload, cause: toErrorPayload(error) })
  }

  /** Revert from a callback: a failure is logged, never an unhandled rejection. */
  private revertSafely(err: FleetError): void {
    this.revert(this.generation, err).catch((e: unknown) => {
      this.ai.log.write('error', 'local revert failed', { err: e })
    })
  }

  private async finish(): Promise<void> {
    const m = this.monitor
    if (m === null) return
    // A last reading: what the device can measure at all (a budget it cannot check fails the trial).
    const sensors = await this.ai.readSensors()
    if (this.monitor !== m) return
    const err = m.breach({ powerMw: sensors?.powerMw ?? null, memoryUsedBytes: sensors?.memory?.usedBytes ?? null })
    if (err !== null) {
      await this.revert(this.generation, err)
      return
    }
    this.disarm()
    await this.send({ type: 'trial-confirmed', generation: this.generation })
  }
}
