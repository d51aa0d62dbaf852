/**
 * The agent's update lifecycle as a pure reducer: `(state, event) → { state, effects }`.
 *
 * The state is the persisted {@link AgentState}; events are what happened (a desired state arrived,
 * a download finished, a trial ended, an operator command); effects are what must be done next
 * (download, verify, stage, self-test, activate, free a slot, publish an event), as data. The
 * {@link LifecycleExecutor} persists each new state before it runs its effects, so a crash between
 * any two effects restarts from a state that already says what was being attempted: a slot is
 * forgotten before its package is written, a trial is recorded before its model is activated.
 *
 * Phases (protocol `PHASES`): idle → downloading → verifying (the package) → staging → verifying
 * (the self-test) → trial → active; `staged` for blue-green; `failed` and `reverted` end an update
 * on the previous model.
 */
import type { DesiredBody, DeviceEventBody, ErrorPayload, ModelRef, Phase } from '@liquid-edge/protocol'
import type { SlotName } from '../ports.js'
import { otherSlot, standbySlot, type AgentState, type SlotRecord, type TrialRecord } from '../state/agent-state.js'

/**
 * Which update a task result belongs to: the desired generation it works on, or
 * {@link ROLLBACK_JOB} for an operator rollback fetching a version. A result for another job (a
 * superseded one) is ignored.
 */
export type Job = number
export const ROLLBACK_JOB: Job = 0

export type LifecycleEvent =
  /** The agent starts on its persisted state: an interrupted trial reverts, slots are restored. */
  | { type: 'boot' }
  /** The recorded slots were loaded into the driver again; `lost` ones could not be (missing or corrupt). */
  | { type: 'restored'; lost: SlotName[] }
  /** A desired state arrived (or was found pending at start). */
  | { type: 'desired'; desired: DesiredBody; now: number }
  | { type: 'downloaded'; job: Job; now: number }
  /** The downloaded package passed hash, signature and hardware checks. */
  | { type: 'verified'; job: Job; now: number }
  /** The package was written and loaded into `slot`. */
  | { type: 'loaded'; job: Job; slot: SlotName; record: SlotRecord }
  /** Hardware self-test and golden vectors passed on the candidate's slot. */
  | { type: 'self-tested'; job: Job; now: number }
  /** A step of the job failed (download, verify, stage, self-test). */
  | { type: 'step-failed'; job: Job; error: ErrorPayload }
  | { type: 'trial-confirmed'; generation: number }
  /** The trial broke its policy (or was ended by an operator): back to the previous model. */
  | { type: 'trial-breached'; generation: number; error: ErrorPayload; cause: ErrorPayload }
  /** Operator `rollback`/`switch`: make a resident slot active now, no trial. */
  | { type: 'make-active'; slot: SlotName }
  /** Operator `rollback` to a version that is not resident: fetch, verify, stage, self-test it. */
  | { type: 'rollback-fetch'; model: ModelRef }
  /** Operator `decommission`: free the previous model's slot. */
  | { type: 'decommission' }
  /** A new connection session. */
  | { type: 'session' }
  /** Telemetry sequence numbers below `upTo` may be used: a restart continues from there, never reusing one. */
  | { type: 'reserve-seq'; upTo: number }
  /** The agent closes cleanly; the next sequence number is `telemetrySeq`. */
  | { type: 'shutdown'; telemetrySeq: number }

export type LifecycleEffect =
  // Tasks: long steps whose result comes back as an event carrying `job`.
  | { type: 'download'; job: Job; model: ModelRef }
  | { type: 'verify'; job: Job; model: ModelRef }
  | { type: 'stage'; job: Job; slot: SlotName; model: ModelRef }
  | { type: 'self-test'; job: Job; slot: SlotName; checkLatency: boolean }
  /** Abandon the task in flight (a newer desired state supersedes it). */
  | { type: 'abort-task' }
  // Immediate effects.
  | { type: 'restore'; slots: SlotName[] }
  | { type: 'activate'; slot: SlotName }
  /** Unload a slot from the driver and delete its package file (the record is already gone). */
  | { type: 'free'; slot: SlotName }
  | { type: 'arm-trial'; trial: TrialRecord }
  /** Stop watching the trial (it ended, judged or not). */
  | { type: 'disarm-trial' }
  /** A judged trial's outcome (not sent when it ends unjudged: replaced by an operator or an unload). */
  | { type: 'trial-ended'; confirmed: boolean; error: ErrorPayload | null }
  | { type: 'emit'; event: DeviceEventBody }
  /** The phase was set (even to the same one): metrics, log, `phaseChanged`. */
  | { type: 'phase'; phase: Phase; error: ErrorPayload | null }
  /** The operator rollback's candidate is ready in `slot` (or failed): the waiting command goes on. */
  | { type: 'rollback-done'; slot: SlotName | null; error: ErrorPayload | null }

export interface LifecycleStep {
  state: AgentState
  effects: LifecycleEffect[]
}

function payload(code: ErrorPayload['code'], message: string): ErrorPayload {
  return { code, message, retryable: false }
}

/** The state, copied so that a step never changes the one it was given. */
function copy(s: AgentState): AgentState {
  return {
    ...s,
    slots: { ...s.slots },
    trial: s.trial === null ? null : { ...s.trial },
    rollbackFetch: s.rollbackFetch === null ? null : { ...s.rollbackFetch },
  }
}

function setPhase(s: AgentState, fx: LifecycleEffect[], phase: Phase, error: ErrorPayload | null): void {
  s.phase = phase
  s.error = error
  fx.push({ type: 'phase', phase, error })
}

/** The job the state is working on, if any. */
export function currentJob(s: AgentState): Job | null {
  if (s.pending !== null) return s.pending.generation
  if (s.rollbackFetch !== null) return ROLLBACK_JOB
  return null
}

/** The model the current job fetches. */
function jobModel(s: AgentState): ModelRef | null {
  return s.pending?.model ?? s.rollbackFetch?.model ?? null
}

/** True while an update (download … self-test) holds the slots: operator slot commands wait. */
export function updating(s: AgentState): boolean {
  return currentJob(s) !== null
}

function expired(desired: DesiredBody | null, now: number): ErrorPayload | null {
  if (desired === null || desired.expiresAt === null || now <= desired.expiresAt) return null
  return payload('AGENT_DESIRED_EXPIRED', `generation ${desired.generation} expired at ${desired.expiresAt}`)
}

/** Forget the slots that hold neither the active model nor a kept standby (a failed candidate). */
function freeUnkept(s: AgentState, fx: LifecycleEffect[]): void {
  for (const slot of ['a', 'b'] as const) {
    if (slot !== s.active && s.standby === null && s.slots[slot] !== null) {
      s.slots[slot] = null
      fx.push({ type: 'free', slot })
    }
  }
}

/** Back to the trial's previous model; `fromBoot`: the driver holds nothing yet (restore activates). */
function revert(s: AgentState, fx: LifecycleEffect[], error: ErrorPayload, cause: ErrorPayload, fromBoot: boolean): void {
  const trial = s.trial
  if (trial === null) return
  const failed = s.slots[trial.slot]
  s.trial = null
  s.active = trial.previous
  s.standby = null
  s.generation = Math.max(s.generation, trial.generation)
  s.slots[trial.slot] = null
  fx.push({ type: 'disarm-trial' })
  if (trial.previous !== null && !fromBoot) fx.push({ type: 'activate', slot: trial.previous })
  fx.push({ type: 'free', slot: trial.slot })
  fx.push({
    type: 'emit',
    event: { event: 'local-revert', ...(failed === null ? {} : { model: { name: failed.name, version: failed.version } }), error },
  })
  setPhase(s, fx, 'reverted', error)
  fx.push({ type: 'trial-ended', confirmed: false, error: cause })
}

/** The job failed: a candidate that was not kept is freed, the previous model still runs. */
function fail(s: AgentState, fx: LifecycleEffect[], error: ErrorPayload): void {
  freeUnkept(s, fx)
  const rollback = s.rollbackFetch
  if (rollback !== null) {
    s.rollbackFetch = null
    setPhase(s, fx, rollback.phase, rollback.error)
    fx.push({ type: 'rollback-done', slot: null, error })
    return
  }
  const desired = s.pending
  if (desired === null) return
  s.pending = null
  s.generation = Math.max(s.generation, desired.generation)
  s.rolloutId = desired.rolloutId
  setPhase(s, fx, 'failed', error)
}

/** A desired state newer than any acted on or in progress. */
function onDesired(s: AgentState, fx: LifecycleEffect[], desired: DesiredBody, now: number): void {
  if (s.pending !== null || s.rollbackFetch !== null) {
    fx.push({ type: 'abort-task' })
    // A superseded rollback fetch returns the phase it found; its command fails.
    if (s.rollbackFetch !== null) {
      const r = s.rollbackFetch
      s.rollbackFetch = null
      s.phase = r.phase
      s.error = r.error
      fx.push({ type: 'rollback-done', slot: null, error: payload('AGENT_SUPERSEDED', 'a desired state superseded the rollback') })
    }
    s.pending = null
  }
  const expiry = expired(desired, now)
  if (expiry !== null) {
    s.pending = desired
    fail(s, fx, expiry)
    return
  }
  const model = desired.model
  if (model === null) {
    unload(s, fx, desired)
    return
  }
  if (s.trial !== null) {
    const err = payload('AGENT_SUPERSEDED', `generation ${s.trial.generation} was superseded by a newer one`)
    revert(s, fx, err, err, false)
  }
  s.reason = null
  s.rolloutId = desired.rolloutId
  s.pending = desired
  const active = s.active === null ? null : s.slots[s.active]
  if (active?.sha256 === model.sha256) {
    s.generation = desired.generation
    s.pending = null
    setPhase(s, fx, 'active', null)
    return
  }
  const slot = standbySlot(s)
  if (s.slots[slot]?.sha256 === model.sha256) {
    setPhase(s, fx, 'verifying', null)
    fx.push({ type: 'self-test', job: desired.generation, slot, checkLatency: !latencyUnjudged(desired, true, s.standby) })
    return
  }
  setPhase(s, fx, 'downloading', null)
  fx.push({ type: 'download', job: desired.generation, model })
}

/**
 * No trial asked for (`trialMs: 0`): the controller's way back from a release (a rollback, a device
 * the rules sent back). The model is activated at once, never judged by a trial: a trial reads the
 * state the bad release left (heat, load) and its breach would revert to that very release.
 */
export function noTrial(desired: DesiredBody): boolean {
  return desired.mode === 'activate' && desired.policy.trialMs === 0
}

/**
 * A way back whose latency the self-test does not judge (its outputs it does): a return to the
 * model this device confirmed before, resident as `previous`, or the policy's fallback of a device
 * that has nothing to go back to (`ROLLOUT_FALLBACK`). The way back must not be blocked by the
 * state the bad model left. A deploy that happens to return to a model is judged like any release.
 */
export function latencyUnjudged(desired: DesiredBody, resident: boolean, standby: AgentState['standby']): boolean {
  return noTrial(desired) && ((resident && standby === 'previous') || desired.reason?.code === 'ROLLOUT_FALLBACK')
}

/**
 * A desired state with no model: end any trial unjudged, unload and forget every slot, and idle
 * with the controller's reason. Nothing is kept: the release being left is the bad one, and a
 * later "back to previous" must not find it in a slot.
 */
function unload(s: AgentState, fx: LifecycleEffect[], desired: DesiredBody): void {
  const was = s.active === null ? null : s.slots[s.active]
  if (s.trial !== null) {
    s.trial = null
    fx.push({ type: 'disarm-trial' })
  }
  s.active = null
  s.standby = null
  s.stagedGeneration = null
  for (const slot of ['a', 'b'] as const) {
    if (s.slots[slot] === null) continue
    s.slots[slot] = null
    fx.push({ type: 'free', slot })
  }
  s.pending = null
  s.generation = desired.generation
  s.rolloutId = desired.rolloutId
  s.reason = desired.reason
  if (was !== null) {
    const model = { name: was.name, version: was.version }
    fx.push({ type: 'emit', event: { event: 'model-unloaded', model, ...(desired.reason === null ? {} : { error: desired.reason }) } })
  }
  setPhase(s, fx, 'idle', null)
}

/** The candidate passed its self-test: keep it staged, activate it confirmed, or start its trial. */
function onSelfTested(s: AgentState, fx: LifecycleEffect[], now: number): void {
  const slot = standbySlot(s)
  const rollback = s.rollbackFetch
  if (rollback !== null) {
    s.rollbackFetch = null
    s.phase = rollback.phase
    s.error = rollback.error
    // Verified and self-tested: kept as a candidate until the command makes it active.
    s.standby = 'staged'
    fx.push({ type: 'rollback-done', slot, error: null })
    return
  }
  const desired = s.pending
  if (desired === null) return
  const expiry = expired(desired, now)
  if (expiry !== null) {
    fail(s, fx, expiry)
    return
  }
  const confirmed = noTrial(desired)
  s.pending = null
  s.generation = desired.generation
  if (desired.mode === 'stage') {
    s.standby = 'staged'
    s.stagedGeneration = desired.generation
    setPhase(s, fx, 'staged', null)
    return
  }
  const previous = s.active
  s.active = slot
  s.standby = previous === null ? null : 'previous'
  if (confirmed) {
    fx.push({ type: 'activate', slot })
    setPhase(s, fx, 'active', null)
    return
  }
  const policy = desired.policy
  s.trial = { slot, previous, generation: desired.generation, startedAt: now, endsAt: now + policy.trialMs, policy }
  fx.push({ type: 'activate', slot })
  fx.push({ type: 'arm-trial', trial: s.trial })
  const rec = s.slots[slot]
  fx.push({ type: 'emit', event: { event: 'trial-started', ...(rec === null ? {} : { model: { name: rec.name, version: rec.version } }) } })
  setPhase(s, fx, 'trial', null)
}

/** One step of the lifecycle. Pure: `state` is not changed; an event that does not apply changes nothing. */
export function step(state: AgentState, event: LifecycleEvent): LifecycleStep {
  const s = copy(state)
  const fx: LifecycleEffect[] = []
  switch (event.type) {
    case 'boot': {
      s.running = true
      // An operator rollback's fetch is abandoned (its command is gone), before a trial is judged.
      if (s.rollbackFetch !== null) {
        s.phase = s.rollbackFetch.phase
        s.error = s.rollbackFetch.error
        s.rollbackFetch = null
      }
      const trial = s.trial
      if (trial !== null) {
        const err = payload('AGENT_TRIAL_INTERRUPTED', `the agent restarted during the trial of generation ${trial.generation}`)
        revert(s, fx, err, err, true)
      }
      // The pending desired state is applied again from the start (the caller sends it anew).
      if (s.pending !== null) {
        if (s.phase !== 'failed') s.phase = 'idle'
        s.pending = null
      }
      // A candidate neither active nor kept was interrupted before its self-test passed: never keep it.
      freeUnkept(s, fx)
      fx.push({ type: 'restore', slots: (['a', 'b'] as const).filter((slot) => s.slots[slot] !== null) })
      break
    }
    case 'restored': {
      for (const slot of event.lost) {
        s.slots[slot] = null
        if (s.active === slot) s.active = null
        else s.standby = null
      }
      if (s.active !== null) fx.push({ type: 'activate', slot: s.active })
      break
    }
    case 'desired': {
      const d = event.desired
      if (d.generation <= s.generation || (s.pending !== null && d.generation <= s.pending.generation)) return { state, effects: [] }
      onDesired(s, fx, d, event.now)
      break
    }
    case 'downloaded': {
      const model = jobModel(s)
      if (currentJob(s) !== event.job || s.phase !== 'downloading' || model === null) return { state, effects: [] }
      const expiry = expired(s.pending, event.now)
      if (expiry !== null) {
        fail(s, fx, expiry)
        break
      }
      setPhase(s, fx, 'verifying', null)
      fx.push({ type: 'verify', job: event.job, model })
      break
    }
    case 'verified': {
      const model = jobModel(s)
      if (currentJob(s) !== event.job || s.phase !== 'verifying' || model === null) return { state, effects: [] }
      const expiry = expired(s.pending, event.now)
      if (expiry !== null) {
        fail(s, fx, expiry)
        break
      }
      setPhase(s, fx, 'staging', null)
      // Forget the slot before its package is written: a crash while staging leaves it empty, never half-recorded.
      const slot = standbySlot(s)
      s.slots[slot] = null
      s.standby = null
      fx.push({ type: 'stage', job: event.job, slot, model })
      break
    }
    case 'loaded': {
      if (currentJob(s) !== event.job || s.phase !== 'staging' || event.slot !== standbySlot(s)) return { state, effects: [] }
      s.slots[event.slot] = event.record
      setPhase(s, fx, 'verifying', null)
      fx.push({
        type: 'self-test',
        job: event.job,
        slot: event.slot,
        checkLatency: s.pending === null || !latencyUnjudged(s.pending, false, s.standby),
      })
      break
    }
    case 'self-tested': {
      const slot = standbySlot(s)
      const model = jobModel(s)
      if (currentJob(s) !== event.job || s.phase !== 'verifying' || model === null || s.slots[slot]?.sha256 !== model.sha256) {
        return { state, effects: [] }
      }
      onSelfTested(s, fx, event.now)
      break
    }
    case 'step-failed':
      if (currentJob(s) !== event.job) return { state, effects: [] }
      fail(s, fx, event.error)
      break
    case 'trial-confirmed': {
      if (s.trial === null || s.trial.generation !== event.generation) return { state, effects: [] }
      s.trial = null
      const rec = s.active === null ? null : s.slots[s.active]
      fx.push({ type: 'disarm-trial' })
      fx.push({
        type: 'emit',
        event: { event: 'trial-confirmed', ...(rec === null ? {} : { model: { name: rec.name, version: rec.version } }) },
      })
      setPhase(s, fx, 'active', null)
      fx.push({ type: 'trial-ended', confirmed: true, error: null })
      break
    }
    case 'trial-breached':
      if (s.trial === null || s.trial.generation !== event.generation) return { state, effects: [] }
      revert(s, fx, event.error, event.cause, false)
      break
    case 'make-active': {
      // Only the active slot or a kept standby (previous or staged: verified and self-tested).
      const kept = event.slot === s.active || (event.slot === standbySlot(s) && s.standby !== null)
      if (updating(s) || s.slots[event.slot] === null || !kept) return { state, effects: [] }
      if (s.trial !== null) {
        s.trial = null
        fx.push({ type: 'disarm-trial' })
      }
      const old = s.active
      s.active = event.slot
      s.reason = null
      s.standby = old !== null && old !== event.slot && s.slots[old] !== null ? 'previous' : null
      // The new slots and the phase are stored and reported together, before the driver switches.
      setPhase(s, fx, 'active', null)
      fx.push({ type: 'activate', slot: event.slot })
      break
    }
    case 'rollback-fetch': {
      if (updating(s)) return { state, effects: [] }
      // The rollback ends a trial first: the candidate must not be staged over the trial's way back.
      if (s.trial !== null) {
        const err = payload('AGENT_TRIAL_INTERRUPTED', 'an operator rollback ended the trial')
        revert(s, fx, err, err, false)
      }
      s.rollbackFetch = { model: event.model, phase: s.phase, error: s.error }
      setPhase(s, fx, 'downloading', null)
      fx.push({ type: 'download', job: ROLLBACK_JOB, model: event.model })
      break
    }
    case 'decommission': {
      if (updating(s) || s.trial !== null || s.active === null || s.standby !== 'previous') return { state, effects: [] }
      const slot = otherSlot(s.active)
      s.slots[slot] = null
      s.standby = null
      fx.push({ type: 'free', slot })
      break
    }
    case 'session':
      s.session++
      break
    case 'reserve-seq':
      s.telemetrySeq = Math.max(s.telemetrySeq, event.upTo)
      break
    case 'shutdown':
      s.running = false
      s.telemetrySeq = event.telemetrySeq
      break
  }
  return { state: s, effects: fx }
}
