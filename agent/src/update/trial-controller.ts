import { FleetError, toErrorPayload, type Policy, type TelemetryBody } from '@liquid-edge/protocol'
import type { OutsideSamples } from '../telemetry/window.js'
import type { AgentInternals } from '../internals.js'
import type { SlotName } from '../ports.js'
import { freeSlot } from './slots.js'
import { TrialMonitor, type TrialStats } from './trial.js'

/** Runs the trial of a newly activated model: confirm at the end, or revert locally on a breach. */
export class TrialController {
  private monitor: TrialMonitor | null = null
  private timer: unknown = null
  private ending: Promise<void> | null = null
  /** Called with the outcome (for the agent's events). */
  onOutcome: (outcome: { confirmed: boolean; error: FleetError | null; stats: TrialStats | null }) => void = () => undefined

  constructor(private readonly ai: AgentInternals) {}

  get running(): boolean {
    return this.monitor !== null
  }

  /** Persist the trial, then activate `slot` (a crash after this point reverts at start). The caller reports the phase. */
  async start(slot: SlotName, generation: number, policy: Policy): Promise<void> {
    const ai = this.ai
    const s = ai.state
    const previous = s.active
    const now = ai.clock.now()
    s.trial = { slot, previous, generation, startedAt: now, endsAt: now + policy.trialMs, policy }
    s.active = slot
    s.standby = previous === null ? null : 'previous'
    await ai.commit()
    await ai.driver.activate(slot)
    this.arm(policy, s.trial.endsAt)
    const rec = s.slots[slot]
    ai.event({ event: 'trial-started', ...(rec === null ? {} : { model: { name: rec.name, version: rec.version } }) })
  }

  /**
   * Activate `slot` with no trial: a return to the model this device ran and confirmed before.
   * The way back is not judged on the device's present state (heat, load), which the model that
   * is being left may have caused; a trial here could revert to the very model being rolled back.
   */
  async activateConfirmed(slot: SlotName): Promise<void> {
    const s = this.ai.state
    s.standby = s.active === null ? null : 'previous'
    s.active = slot
    await this.ai.commit()
    await this.ai.driver.activate(slot)
  }

  /** Re-arm a trial after a restart is not allowed: an interrupted trial counts as failed. */
  async recoverAtBoot(): Promise<void> {
    const trial = this.ai.state.trial
    if (trial === null) return
    await this.revert(new FleetError('AGENT_TRIAL_INTERRUPTED', `the agent restarted during the trial of generation ${trial.generation}`), {
      fromBoot: true,
    })
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

  /** Revert from a callback: a failure is logged (and reported), never an unhandled rejection. */
  private revertSafely(err: FleetError): void {
    this.revert(err).catch((e: unknown) => {
      this.ai.log.write('error', 'local revert failed', { err: e })
    })
  }

  private arm(policy: Policy, endsAt: number): void {
    this.monitor = new TrialMonitor(policy, this.ai.driver.hardware)
    this.timer = this.ai.clock.setTimeout(
      () => {
        this.finish().catch((e: unknown) => {
          this.ai.log.write('error', 'trial could not be finished', { err: e })
        })
      },
      Math.max(0, endsAt - this.ai.clock.now()),
    )
  }

  private async finish(): Promise<void> {
    const m = this.monitor
    if (m === null) return
    // A last reading: what the device can measure at all (a budget it cannot check fails the trial).
    const sensors = await this.ai.readSensors()
    if (this.monitor !== m) return
    const err = m.breach({ powerMw: sensors?.powerMw ?? null, memoryUsedBytes: sensors?.memory?.usedBytes ?? null })
    if (err !== null) return this.revert(err)
    return this.end(async () => {
      const ai = this.ai
      const s = ai.state
      s.trial = null
      const rec = s.active === null ? null : s.slots[s.active]
      ai.log.write('info', 'trial confirmed', { model: rec === null ? null : `${rec.name}@${rec.version}` })
      ai.event({ event: 'trial-confirmed', ...(rec === null ? {} : { model: { name: rec.name, version: rec.version } }) })
      await ai.setPhase('active', null)
      this.onOutcome({ confirmed: true, error: null, stats: m.stats() })
    })
  }

  /** Revert to the previous model now (offline too), freeing the failed slot. */
  revert(error: FleetError, opts: { fromBoot?: boolean } = {}): Promise<void> {
    const stats = this.monitor?.stats() ?? null
    return this.end(async () => {
      const ai = this.ai
      const s = ai.state
      const trial = s.trial
      if (trial === null) return
      const failed = s.slots[trial.slot]
      s.trial = null
      s.active = trial.previous
      s.standby = null
      s.generation = Math.max(s.generation, trial.generation)
      await ai.commit()
      if (trial.previous !== null && !opts.fromBoot) await ai.driver.activate(trial.previous)
      await freeSlot(ai, trial.slot)
      const payload = toErrorPayload(error)
      if (stats !== null) payload.details = { ...payload.details, samples: stats.samples, errors: stats.errors }
      ai.log.write('warn', 'trial reverted', { code: error.code, reason: error.message })
      ai.event({
        event: 'local-revert',
        ...(failed === null ? {} : { model: { name: failed.name, version: failed.version } }),
        error: payload,
      })
      await ai.setPhase('reverted', payload)
      this.onOutcome({ confirmed: false, error, stats })
    })
  }

  /** End the trial without judging it (an operator rollback replaced it). */
  cancel(): void {
    this.ai.clock.clearTimeout(this.timer)
    this.monitor = null
    this.ai.state.trial = null
  }

  private end(fn: () => Promise<void>): Promise<void> {
    if (this.ending !== null) return this.ending
    this.ai.clock.clearTimeout(this.timer)
    this.monitor = null
    this.ending = fn().finally(() => {
      this.ending = null
    })
    return this.ending
  }

  close(): void {
    this.ai.clock.clearTimeout(this.timer)
    this.monitor = null
  }
}
