import { mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { assertValidPackage, type ModelPackage } from '@liquid-edge/package'
import {
  FleetError,
  fromErrorPayload,
  isFleetError,
  toErrorPayload,
  type DesiredBody,
  type ErrorPayload,
  type ModelRef,
  type PackageManifest,
  type Phase,
} from '@liquid-edge/protocol'
import type { AgentInternals } from '../internals.js'
import type { SlotName } from '../ports.js'
import { saveState, type AgentState, type AgentStateView } from '../state/agent-state.js'
import { updating, type LifecycleEvent } from './lifecycle.js'
import { LifecycleExecutor, type EffectRunner, type ImmediateEffect, type TaskEffect } from './lifecycle-executor.js'
import { loadSlot, restoreSlot, selfTest, unloadSlot, type SlotDevice } from './slots.js'
import { TrialController } from './trial-controller.js'

/** Download attempts before an update fails, and the back-off between them (doubling, ±50 % jitter). */
const DOWNLOAD_ATTEMPTS = 6
const DOWNLOAD_RETRY_MIN_MS = 1000
const DOWNLOAD_RETRY_MAX_MS = 30_000

/** What the updater needs from the agent beyond its ports: where persisted states and outcomes go. */
export interface UpdateHost {
  readonly ai: AgentInternals
  /** A new state was persisted (or a download progressed): metrics and the retained `reported`. */
  stored(state: AgentStateView, progress?: number): void
  /** The phase was set (even to the same one). */
  phaseChanged(phase: Phase, error: ErrorPayload | null): void
  /** A judged trial ended. */
  trialEnded(outcome: { confirmed: boolean; error: ErrorPayload | null }): void
}

/** What operator commands may do to the slots: read the state, send events, fetch a version, end a trial. */
export interface SlotControl {
  readonly state: AgentStateView
  /** Apply an event; false when it did not apply in the state it met. */
  send(event: LifecycleEvent): Promise<boolean>
  /**
   * Download, verify, stage and self-test `model` into the standby slot (a trial running is reverted
   * first) and resolve with that slot, kept as a candidate until made active.
   * @throws {FleetError} `AGENT_BUSY` during an update, or the failing step's code
   */
  fetchForRollback(model: ModelRef): Promise<SlotName>
  /** End the running trial as failed now: back to its previous model. False when no trial was running. */
  revertTrial(error: FleetError): Promise<boolean>
}

interface Verified {
  sha256: string
  bytes: Uint8Array
  pkg: ModelPackage
}

/**
 * The agent's side of the update lifecycle: owns the {@link LifecycleExecutor} (the one writer of
 * slot and trial state) and carries out its effects on the device — files, driver, network,
 * events. Everything else reads {@link state} and sends events.
 */
export class Updater implements EffectRunner, SlotControl {
  private life: LifecycleExecutor
  readonly trial: TrialController
  /** Manifests of the slots loaded in the driver (not persisted: restored from the slot files at start). */
  readonly manifests: Record<SlotName, PackageManifest | null> = { a: null, b: null }
  private readonly dev: SlotDevice
  private verified: Verified | null = null
  private rollbackWaiter: { resolve: (slot: SlotName) => void; reject: (err: unknown) => void } | null = null
  private stopping = false

  constructor(
    private readonly host: UpdateHost,
    state: AgentState,
  ) {
    const ai = host.ai
    this.life = new LifecycleExecutor(state, this)
    this.trial = new TrialController(ai, (event) => this.send(event))
    this.dev = { driver: ai.driver, store: ai.store, log: ai.log, manifests: this.manifests }
  }

  get state(): AgentStateView {
    return this.life.state
  }

  /** True while an update (download … self-test) holds the slots. */
  get busy(): boolean {
    return updating(this.life.state)
  }

  /** Start on the persisted `state`: an interrupted trial reverts, the slots are loaded again. */
  async boot(state: AgentState): Promise<void> {
    this.life = new LifecycleExecutor(state, this)
    await this.life.dispatch({ type: 'boot' })
  }

  /** A desired state arrived (or was found pending at start): acted on when newer than any acted on. Never throws. */
  desired(desired: DesiredBody): void {
    const log = this.host.ai.log
    const generation = desired.generation
    this.send({ type: 'desired', desired, now: this.host.ai.clock.now() }).then(
      (applied) => {
        const s = this.life.state
        if (!applied) log.write('debug', 'desired state ignored: not newer', { generation, applied: s.pending?.generation ?? s.generation })
      },
      (err: unknown) => {
        log.write('error', 'desired state could not be acted on', { generation, err })
      },
    )
  }

  send(event: LifecycleEvent): Promise<boolean> {
    return this.life.dispatch(event)
  }

  async fetchForRollback(model: ModelRef): Promise<SlotName> {
    if (this.rollbackWaiter !== null || this.busy) throw new FleetError('AGENT_BUSY', 'an update is in progress', { retryable: true })
    const done = new Promise<SlotName>((resolve, reject) => {
      this.rollbackWaiter = { resolve, reject }
    })
    if (!(await this.send({ type: 'rollback-fetch', model }))) {
      this.rollbackWaiter = null
      throw new FleetError('AGENT_BUSY', 'an update is in progress', { retryable: true })
    }
    return done
  }

  async revertTrial(error: FleetError): Promise<boolean> {
    const trial = this.life.state.trial
    return trial !== null && (await this.trial.revert(trial.generation, error))
  }

  /** Resolves when no event is being applied and no step is in flight. */
  settled(): Promise<void> {
    return this.life.settled()
  }

  /** The agent closes: abandon the step in flight (its state stays persisted: the next start takes it up). */
  stop(): void {
    this.stopping = true
    this.trial.disarm()
    const closing = new FleetError('AGENT_INTERNAL', 'the agent is closing')
    this.life.abort(closing)
    // An operator rollback waiting for its fetch is answered now: the step that would answer it is abandoned.
    this.rollbackWaiter?.reject(closing)
    this.rollbackWaiter = null
  }

  // ---- EffectRunner ---------------------------------------------------------------------

  async persist(state: AgentState): Promise<void> {
    await saveState(this.host.ai.store, state)
    // Reported once durable: whoever acts on it (a command) finds the agent in that state.
    this.host.stored(state)
  }

  async run(effect: ImmediateEffect, state: AgentState): Promise<LifecycleEvent | null> {
    const ai = this.host.ai
    switch (effect.type) {
      case 'restore': {
        const lost: SlotName[] = []
        for (const slot of effect.slots) {
          const rec = state.slots[slot]
          if (rec === null || !(await restoreSlot(this.dev, slot, rec))) lost.push(slot)
        }
        return { type: 'restored', lost }
      }
      case 'activate':
        await ai.driver.activate(effect.slot)
        return null
      case 'free':
        await unloadSlot(this.dev, effect.slot)
        return null
      case 'arm-trial':
        this.trial.arm(effect.trial)
        return null
      case 'disarm-trial':
        this.trial.disarm()
        return null
      case 'trial-ended': {
        const rec = state.active === null ? null : state.slots[state.active]
        if (effect.confirmed) ai.log.write('info', 'trial confirmed', { model: rec === null ? null : `${rec.name}@${rec.version}` })
        else ai.log.write('warn', 'trial reverted', { code: effect.error?.code, reason: effect.error?.message })
        this.host.trialEnded({ confirmed: effect.confirmed, error: effect.error })
        return null
      }
      case 'emit':
        if (effect.event.event === 'model-unloaded') {
          ai.log.write('info', 'model unloaded', { generation: state.generation, code: state.reason?.code ?? null })
        }
        ai.event(effect.event)
        return null
      case 'phase':
        this.host.phaseChanged(effect.phase, effect.error)
        return null
      case 'rollback-done': {
        const waiter = this.rollbackWaiter
        this.rollbackWaiter = null
        if (waiter !== null) {
          if (effect.slot !== null) waiter.resolve(effect.slot)
          else
            waiter.reject(
              fromErrorPayload(effect.error ?? { code: 'AGENT_INTERNAL', message: 'the rollback fetch failed', retryable: false }),
            )
        }
        return null
      }
    }
  }

  async task(effect: TaskEffect, signal: AbortSignal): Promise<LifecycleEvent> {
    try {
      switch (effect.type) {
        case 'download':
          await this.download(effect.model, signal)
          return { type: 'downloaded', job: effect.job, now: this.host.ai.clock.now() }
        case 'verify':
          await this.verify(effect.model)
          return { type: 'verified', job: effect.job, now: this.host.ai.clock.now() }
        case 'stage':
          return await this.stage(effect)
        case 'self-test':
          await this.selfTest(effect)
          return { type: 'self-tested', job: effect.job, now: this.host.ai.clock.now() }
      }
    } catch (err) {
      const error = toErrorPayload(err)
      if (!signal.aborted) this.host.ai.log.write('warn', 'update failed', { step: effect.type, job: effect.job, code: error.code, err })
      return { type: 'step-failed', job: effect.job, error }
    }
  }

  error(err: unknown): void {
    if (this.stopping) return
    this.host.ai.log.write('error', 'an update step could not be carried out', { err })
  }

  // ---- tasks ----------------------------------------------------------------------------

  private partPath(model: ModelRef): string {
    return join(this.host.ai.stateDir, 'downloads', `${model.sha256}.part`)
  }

  /** Download (resumable) into `downloads/<sha256>.part`, retrying a busy artifact server. */
  private async download(model: ModelRef, signal: AbortSignal): Promise<void> {
    const ai = this.host.ai
    await mkdir(join(ai.stateDir, 'downloads'), { recursive: true })
    let lastReported = 0
    for (let attempt = 1; ; attempt++) {
      try {
        await ai.fetcher.fetch({
          url: model.url,
          size: model.size,
          destPath: this.partPath(model),
          signal,
          onProgress: (got) => {
            const progress = got / model.size
            if (progress - lastReported >= 0.25 && progress < 1) {
              lastReported = progress
              this.host.stored(this.life.state, progress)
            }
          },
        })
        return
      } catch (err) {
        // An artifact server busy with a whole fleet is not a failed update: wait (jittered, so
        // that thousands of devices do not come back together) and resume where the bytes stopped.
        if (signal.aborted || attempt >= DOWNLOAD_ATTEMPTS || !isTransient(err)) throw err
        const delayMs = Math.min(DOWNLOAD_RETRY_MAX_MS, DOWNLOAD_RETRY_MIN_MS * 2 ** (attempt - 1)) * (0.5 + Math.random())
        ai.log.write('info', 'download failed, retrying', { attempt, delayMs: Math.round(delayMs), code: err.code, err })
        await waitOrAbort(ai, delayMs, signal)
        signal.throwIfAborted()
      }
    }
  }

  /** Hash, signature, layout and hardware of the downloaded package; kept in memory for the stage. */
  private async verify(model: ModelRef): Promise<void> {
    const ai = this.host.ai
    this.verified = null
    const path = this.partPath(model)
    const bytes = await readFile(path)
    let pkg
    try {
      pkg = assertValidPackage(bytes, { keys: ai.publisherKeys, expectedSha256: model.sha256, expectedSignature: model.signature }).package
    } catch (err) {
      await rm(path, { force: true })
      throw err
    }
    const hw = pkg.manifest.hardware
    if (hw.length > 0 && !hw.includes(ai.driver.hardware)) {
      await rm(path, { force: true })
      throw new FleetError('AGENT_PACKAGE_INVALID', `model is built for ${hw.join(', ')}, this device is ${ai.driver.hardware}`)
    }
    ai.log.write('debug', 'package verified', { model: `${model.name}@${model.version}`, bytes: bytes.byteLength, sha256: model.sha256 })
    this.verified = { sha256: model.sha256, bytes, pkg }
  }

  private async stage(effect: Extract<TaskEffect, { type: 'stage' }>): Promise<LifecycleEvent> {
    const model = effect.model
    if (this.verified?.sha256 !== model.sha256) await this.verify(model)
    const v = this.verified
    if (v?.sha256 !== model.sha256) throw new FleetError('AGENT_INTERNAL', `package ${model.sha256} was not verified before staging`)
    this.verified = null
    try {
      await loadSlot(this.dev, effect.slot, v.bytes, v.pkg)
    } catch (err) {
      this.host.ai.event({ event: 'model-load-failed', model: { name: model.name, version: model.version }, error: toErrorPayload(err) })
      throw err
    }
    await rm(this.partPath(model), { force: true })
    const m = v.pkg.manifest
    return {
      type: 'loaded',
      job: effect.job,
      slot: effect.slot,
      record: { name: m.name, version: m.version, sha256: model.sha256, size: v.bytes.byteLength },
    }
  }

  private async selfTest(effect: Extract<TaskEffect, { type: 'self-test' }>): Promise<void> {
    const manifest = this.manifests[effect.slot]
    if (manifest === null) throw new FleetError('AGENT_INTERNAL', `slot ${effect.slot} has no manifest after staging`)
    try {
      await selfTest(this.host.ai, effect.slot, manifest, { checkLatency: effect.checkLatency })
    } catch (err) {
      this.host.ai.event({
        event: 'self-test-failed',
        model: { name: manifest.name, version: manifest.version },
        error: toErrorPayload(err),
      })
      throw err
    }
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
