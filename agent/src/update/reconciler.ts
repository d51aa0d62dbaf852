import { mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { FleetError, toErrorPayload, type DesiredBody, type ModelRef } from '@liquid-edge/protocol'
import type { AgentInternals } from '../internals.js'
import type { SlotName } from '../ports.js'
import { standbySlot } from '../state/agent-state.js'
import { freeSlot, selfTest, stageSlot } from './slots.js'
import { TrialController } from './trial-controller.js'
import { verifyPackage } from './verify-package.js'

interface Job {
  generation: number
  /** Past its last step: only the final report is left, so commands need not be refused. */
  finishing: boolean
  ctl: AbortController
  done: Promise<void>
}

function superseded(generation: number): FleetError {
  return new FleetError('AGENT_SUPERSEDED', `generation ${generation} was superseded by a newer one`)
}

/**
 * Converges the device on its desired state: generation and expiry checks, download, verify,
 * stage into the standby slot, self-test, then a trial (or `staged` for blue-green).
 */
export class Reconciler {
  private job: Job | null = null
  readonly trial: TrialController

  constructor(private readonly ai: AgentInternals) {
    this.trial = new TrialController(ai)
  }

  get busy(): boolean {
    return this.job !== null && !this.job.finishing
  }

  /** Mark the current job as past its last step (before its final report). */
  private finishing(): void {
    if (this.job !== null) this.job.finishing = true
  }

  /** A desired state arrived (or was found pending at start). Never throws. */
  onDesired(desired: DesiredBody): void {
    const s = this.ai.state
    if (desired.generation <= s.generation || (this.job !== null && desired.generation <= this.job.generation)) {
      this.ai.log.write('debug', 'desired state ignored: not newer', { generation: desired.generation, applied: s.generation })
      return
    }
    const previous = this.job
    if (previous !== null) {
      this.ai.log.write('info', 'update superseded', { generation: previous.generation, by: desired.generation })
      previous.ctl.abort(superseded(previous.generation))
    }
    const ctl = new AbortController()
    const job: Job = { generation: desired.generation, finishing: false, ctl, done: Promise.resolve() }
    job.done = (async () => {
      await previous?.done
      await this.run(desired, ctl.signal)
    })()
      .catch((err: unknown) => this.fail(desired, err, ctl.signal))
      .finally(() => {
        if (this.job === job) this.job = null
      })
    this.job = job
  }

  /** Wait for the current update (tests, close). */
  async settled(): Promise<void> {
    await this.job?.done
  }

  abort(): void {
    this.job?.ctl.abort(new FleetError('AGENT_INTERNAL', 'the agent is closing'))
  }

  private async run(desired: DesiredBody, signal: AbortSignal): Promise<void> {
    const ai = this.ai
    const s = ai.state
    const model = desired.model
    const check = (): void => {
      if (signal.aborted) throw signal.reason
      if (desired.expiresAt !== null && ai.clock.now() > desired.expiresAt) {
        throw new FleetError('AGENT_DESIRED_EXPIRED', `generation ${desired.generation} expired at ${desired.expiresAt}`)
      }
    }
    check()
    if (s.trial !== null) await this.trial.revert(superseded(s.trial.generation))
    s.rolloutId = desired.rolloutId
    s.pending = desired
    const active = s.active === null ? null : s.slots[s.active]
    if (active?.sha256 === model.sha256) {
      s.generation = desired.generation
      s.pending = null
      this.finishing()
      await ai.setPhase('active', null)
      return
    }
    let slot: SlotName = standbySlot(s)
    const resident = s.slots[slot]?.sha256 === model.sha256
    // A rollback (no trial asked for) to the model this device confirmed before: outputs are
    // checked, latency and a trial are not — the way back must not be blocked by the state the bad
    // model left. A deploy that happens to return to it is judged like any release.
    const returning = resident && s.standby === 'previous' && desired.mode === 'activate' && desired.policy.trialMs === 0
    if (!resident) {
      await ai.setPhase('downloading', null)
      slot = await this.fetchAndStage(model, signal, check)
    }
    const manifest = ai.manifests[slot]
    if (manifest === null) throw new FleetError('AGENT_INTERNAL', `slot ${slot} has no manifest after staging`)
    await ai.setPhase('verifying', null)
    try {
      await selfTest(ai, slot, manifest, { checkLatency: !returning })
    } catch (err) {
      ai.event({ event: 'self-test-failed', model: { name: manifest.name, version: manifest.version }, error: toErrorPayload(err) })
      throw err
    }
    check()
    s.pending = null
    s.generation = desired.generation
    if (desired.mode === 'stage') {
      s.standby = 'staged'
      s.stagedGeneration = desired.generation
      this.finishing()
      await ai.setPhase('staged', null)
      return
    }
    if (returning) {
      await this.trial.activateConfirmed(slot)
      this.finishing()
      await ai.setPhase('active', null)
      return
    }
    await this.trial.start(slot, desired.generation, desired.policy)
    this.finishing()
    await ai.setPhase('trial', null)
  }

  /**
   * For an operator rollback to a version that is not resident: download, verify, stage and
   * self-test it into the standby slot now (the caller activates it: rollbacks skip the trial).
   * On failure the phase returns to what it was and the error is thrown.
   * @throws {FleetError} `AGENT_BUSY` during an update, or any download/verify/stage/self-test code
   */
  async stageForRollback(model: ModelRef): Promise<SlotName> {
    if (this.job !== null) throw new FleetError('AGENT_BUSY', 'an update is in progress', { retryable: true })
    const ai = this.ai
    const before = { phase: ai.state.phase, error: ai.state.error }
    const ctl = new AbortController()
    const job: Job = { generation: ai.state.generation, finishing: false, ctl, done: Promise.resolve() }
    this.job = job
    try {
      await ai.setPhase('downloading', null)
      const slot = await this.fetchAndStage(model, ctl.signal, () => {
        if (ctl.signal.aborted) throw ctl.signal.reason
      })
      const manifest = ai.manifests[slot]
      if (manifest === null) throw new FleetError('AGENT_INTERNAL', `slot ${slot} has no manifest after staging`)
      await selfTest(ai, slot, manifest)
      return slot
    } catch (err) {
      for (const slot of ['a', 'b'] as const) {
        if (slot !== ai.state.active && ai.state.standby === null && ai.state.slots[slot] !== null) await freeSlot(ai, slot)
      }
      await ai.setPhase(before.phase, before.error)
      throw err
    } finally {
      this.job = null
    }
  }

  /** Download (resumable), verify and stage `model` into the standby slot. */
  private async fetchAndStage(model: ModelRef, signal: AbortSignal, check: () => void): Promise<SlotName> {
    const ai = this.ai
    const dir = join(ai.stateDir, 'downloads')
    await mkdir(dir, { recursive: true })
    const partPath = join(dir, `${model.sha256}.part`)
    let lastReported = 0
    await ai.fetcher.fetch({
      url: model.url,
      size: model.size,
      destPath: partPath,
      signal,
      onProgress: (got) => {
        const progress = got / model.size
        if (progress - lastReported >= 0.25 && progress < 1) {
          lastReported = progress
          void ai.commit(progress).catch(() => undefined)
        }
      },
    })
    check()
    await ai.setPhase('verifying', null)
    const bytes = await readFile(partPath)
    let pkg
    try {
      pkg = verifyPackage(bytes, model, ai.publisherKeys)
    } catch (err) {
      await rm(partPath, { force: true })
      throw err
    }
    const hw = pkg.manifest.hardware
    if (hw.length > 0 && !hw.includes(ai.driver.hardware)) {
      await rm(partPath, { force: true })
      throw new FleetError('AGENT_PACKAGE_INVALID', `model is built for ${hw.join(', ')}, this device is ${ai.driver.hardware}`)
    }
    check()
    await ai.setPhase('staging', null)
    const slot = standbySlot(ai.state)
    try {
      await stageSlot(ai, slot, bytes, pkg, model.sha256)
    } catch (err) {
      ai.event({ event: 'model-load-failed', model: { name: model.name, version: model.version }, error: toErrorPayload(err) })
      throw err
    }
    await ai.commit()
    await rm(partPath, { force: true })
    return slot
  }

  private async fail(desired: DesiredBody, err: unknown, signal: AbortSignal): Promise<void> {
    const ai = this.ai
    const payload = toErrorPayload(err)
    if (signal.aborted && payload.code === 'AGENT_SUPERSEDED') return // the newer job reports
    ai.log.write('warn', 'update failed', { generation: desired.generation, code: payload.code, err })
    const s = ai.state
    for (const slot of ['a', 'b'] as const) {
      if (slot !== s.active && s.standby === null && s.slots[slot] !== null) await freeSlot(ai, slot).catch(() => undefined)
    }
    s.pending = null
    s.generation = Math.max(s.generation, desired.generation)
    s.rolloutId = desired.rolloutId
    this.finishing()
    await ai.setPhase('failed', payload).catch((e: unknown) => {
      ai.log.write('error', 'could not record the failure', { err: e })
    })
  }
}
