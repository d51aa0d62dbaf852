import { mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { assertValidPackage } from '@liquid-edge/package'
import { FleetError, isFleetError, toErrorPayload, type DesiredBody, type ModelRef } from '@liquid-edge/protocol'
import type { AgentInternals } from '../internals.js'
import type { SlotName } from '../ports.js'
import { standbySlot } from '../state/agent-state.js'
import { freeSlot, selfTest, stageSlot } from './slots.js'
import { latencyUnjudged, noTrial } from './lifecycle.js'
import { TrialController } from './trial-controller.js'

interface Job {
  generation: number
  /** Past its last step: only the final report is left, so commands need not be refused. */
  finishing: boolean
  ctl: AbortController
  done: Promise<void>
}

/** Download attempts before an update fails, and the back-off between them (doubling, ±50 % jitter). */
const DOWNLOAD_ATTEMPTS = 6
const DOWNLOAD_RETRY_MIN_MS = 1000
const DOWNLOAD_RETRY_MAX_MS = 30_000

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
    if (model === null) return this.unload(desired)
    if (s.trial !== null) await this.trial.revert(superseded(s.trial.generation))
    s.reason = null
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
    // A way back (no trial asked for) is activated unjudged; its latency is not judged either when
    // it returns to the confirmed `previous` model or goes to the policy's fallback.
    const unjudged = latencyUnjudged(desired, resident, s.standby)
    if (!resident) {
      await ai.setPhase('downloading', null)
      slot = await this.fetchAndStage(model, signal, check)
    }
    const manifest = ai.manifests[slot]
    if (manifest === null) throw new FleetError('AGENT_INTERNAL', `slot ${slot} has no manifest after staging`)
    await ai.setPhase('verifying', null)
    try {
      await selfTest(ai, slot, manifest, { checkLatency: !unjudged })
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
    if (noTrial(desired)) {
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
   * A desired state with no model: end any trial unjudged, unload and forget every slot, and idle
   * with the controller's reason. Nothing is kept: the release being left is the bad one, and a
   * later "back to previous" must not find it in a slot.
   */
  private async unload(desired: DesiredBody): Promise<void> {
    const ai = this.ai
    const s = ai.state
    const was = s.active === null ? null : s.slots[s.active]
    if (s.trial !== null || this.trial.running) this.trial.cancel()
    s.active = null
    s.standby = null
    s.stagedGeneration = null
    await ai.commit()
    for (const slot of ['a', 'b'] as const) if (s.slots[slot] !== null) await freeSlot(ai, slot)
    s.pending = null
    s.generation = desired.generation
    s.rolloutId = desired.rolloutId
    s.reason = desired.reason
    this.finishing()
    if (was !== null) {
      ai.event({
        event: 'model-unloaded',
        model: { name: was.name, version: was.version },
        ...(desired.reason === null ? {} : { error: desired.reason }),
      })
    }
    ai.log.write('info', 'model unloaded', { generation: desired.generation, code: desired.reason?.code ?? null })
    await ai.setPhase('idle', null)
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
    for (let attempt = 1; ; attempt++) {
      try {
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
        break
      } catch (err) {
        // An artifact server busy with a whole fleet is not a failed update: wait (jittered, so
        // that thousands of devices do not come back together) and resume where the bytes stopped.
        if (signal.aborted || attempt >= DOWNLOAD_ATTEMPTS || !isTransient(err)) throw err
        const delayMs = Math.min(DOWNLOAD_RETRY_MAX_MS, DOWNLOAD_RETRY_MIN_MS * 2 ** (attempt - 1)) * (0.5 + Math.random())
        ai.log.write('info', 'download failed, retrying', { attempt, delayMs: Math.round(delayMs), code: err.code, err })
        await waitOrAbort(ai, delayMs, signal)
        check()
      }
    }
    check()
    await ai.setPhase('verifying', null)
    const bytes = await readFile(partPath)
    let pkg
    try {
      pkg = assertValidPackage(bytes, { keys: ai.publisherKeys, expectedSha256: model.sha256, expectedSignature: model.signature }).package
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
    ai.log.write('debug', 'package verified', { model: `${model.name}@${model.version}`, bytes: bytes.byteLength, sha256: model.sha256 })
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

/** A download failure worth retrying: time-outs, dropped connections, a busy or failing server — not a missing artifact. */
function isTransient(err: unknown): err is FleetError {
  if (!isFleetError(err, 'AGENT_DOWNLOAD_FAILED')) return false
  const status = err.details?.httpStatus
  return typeof status !== 'number' || status >= 500 || status === 408 || status === 429
}

/** Wait `ms` on the agent's clock; resolves early when `signal` aborts (the caller checks it). */
function waitOrAbort(ai: AgentInternals, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      ai.clock.clearTimeout(handle)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const handle = ai.clock.setTimeout(done, ms)
    signal.addEventListener('abort', done, { once: true })
  })
}
