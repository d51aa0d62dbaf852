import { type Effect } from './effects.js'
import { cohortOf, type Member } from './membership.js'
import type { DeviceObservation, Observations } from './observations.js'
import {
  SUPERSEDED,
  TERMINAL_STATES,
  newProgress,
  type Counts,
  type DeviceProgress,
  type ModelSummary,
  type Outcome,
  type Rollout,
} from './types.js'

export interface StepResult {
  next: Rollout
  effects: Effect[]
}

type Progress = Map<string, DeviceProgress>

function summary(m: ModelSummary): ModelSummary {
  return { name: m.name, version: m.version, sha256: m.sha256 }
}

const BAD: ReadonlySet<string> = new Set(['failed', 'reverted'])

/** The outcome a pending (or decided) device has now, from what it reported. */
export function judge(r: Rollout, p: DeviceProgress, d: DeviceObservation, now: number): { outcome: Outcome; error: string | null } {
  const rep = d.reported
  if (p.outcome === 'skipped') return { outcome: 'skipped', error: null }
  if (p.reverted) return { outcome: 'failed', error: p.error }
  if (rep !== null) {
    const current = p.gen === null || rep.generation >= p.gen
    const onTarget = rep.active?.sha256 === p.to.sha256 || (r.mode === 'stage' && rep.staged?.sha256 === p.to.sha256)
    const settled = r.mode === 'stage' ? rep.phase === 'staged' || rep.phase === 'active' : rep.phase === 'active'
    if (current && onTarget && settled) return { outcome: 'succeeded', error: null }
    if (p.gen !== null && rep.generation === p.gen && BAD.has(rep.phase)) return { outcome: 'failed', error: rep.error ?? rep.phase }
  }
  if (p.outcome !== 'pending') return { outcome: p.outcome, error: p.error }
  if (now - p.at > r.stepDeadlineMs) return { outcome: 'silent', error: `no answer within ${r.stepDeadlineMs} ms` }
  return { outcome: 'pending', error: null }
}

function updateOutcomes(r: Rollout, obs: Observations, progress: Progress, now: number, effects: Effect[]): void {
  for (const d of obs.devices) {
    const p = progress.get(d.id)
    if (p === undefined) continue
    const j = judge(r, p, d, now)
    if (j.outcome === p.outcome) continue
    effects.push({ type: 'outcome', deviceId: d.id, outcome: j.outcome, error: j.error })
    progress.set(d.id, { ...p, outcome: j.outcome, error: j.error, outcomeAt: now })
  }
}

function members(r: Rollout, obs: Observations, progress: Progress): Member[] {
  return obs.devices
    .filter((d) => progress.has(d.id) || (d.inTarget && !d.lockedByOther && (r.kind === 'deploy' || d.plan !== null)))
    .map((d) => ({ id: d.id, bucket: d.bucket, stratum: d.stratum }))
}

function refill(r: Rollout, now: number): number {
  if (r.rateLimitPerMin === null) return Number.POSITIVE_INFINITY
  const burst = Math.max(1, r.rateLimitPerMin / 6)
  return Math.min(burst, r.tokens + ((now - r.tokensAt) * r.rateLimitPerMin) / 60_000)
}

/** Dispatch the cohort's devices that have nothing yet, within max-in-flight and the rate limit. */
function dispatch(r: Rollout, obs: Observations, cohort: Set<string>, progress: Progress, now: number, effects: Effect[]): Rollout {
  const byId = new Map(obs.devices.map((d) => [d.id, d]))
  let inFlight = [...progress.values()].filter((p) => p.outcome === 'pending').length
  let tokens = refill(r, now)
  const waiting = [...cohort].map((id) => byId.get(id)).filter((d): d is DeviceObservation => d !== undefined && !progress.has(d.id))
  waiting.sort((a, b) => a.bucket - b.bucket || (a.id < b.id ? -1 : 1))
  for (const d of waiting) {
    if (r.kind === 'deploy' && r.mode === 'activate' && d.currentSha === r.model.sha256) {
      const model = { name: r.model.name, version: r.model.version, sha256: r.model.sha256 }
      effects.push({ type: 'skip', deviceId: d.id, step: r.step, model })
      progress.set(d.id, newProgress({ gen: null, step: r.step, at: now, published: true, outcome: 'skipped', from: null, to: model }))
      continue
    }
    if ((r.maxInFlight !== null && inFlight >= r.maxInFlight) || tokens < 1) continue
    inFlight++
    tokens--
    const from = d.reported?.active ?? null
    const plan = d.plan
    const model = plan?.via === 'desired' ? plan.model : r.model
    const to = plan?.model ?? r.model
    if (plan?.via === 'command') effects.push({ type: 'rollback-command', deviceId: d.id, step: r.step, to: plan.model, from })
    else effects.push({ type: 'dispatch', deviceId: d.id, step: r.step, model, from })
    progress.set(d.id, newProgress({ gen: 0, step: r.step, at: now, published: false, outcome: 'pending', from, to: summary(to) }))
  }
  for (const [id, p] of progress) if (!p.published && p.gen !== null && p.gen > 0) effects.push({ type: 'publish', deviceId: id })
  return r.rateLimitPerMin === null ? r : { ...r, tokens: Math.max(0, tokens), tokensAt: now }
}

export function countsOf(cohort: Set<string>, progress: Progress, targeted: number): Counts {
  const c: Counts = { targeted, cohort: cohort.size, pending: 0, succeeded: 0, failed: 0, silent: 0, skipped: 0 }
  for (const id of cohort) {
    const p = progress.get(id)
    if (p === undefined) c.pending++
    else c[p.outcome]++
  }
  return c
}

function tripped(r: Rollout, c: Counts): string | null {
  if (r.kind === 'rollback' || c.cohort === 0) return null
  const bad = Math.max(0, c.failed + c.silent - r.acceptedFailures)
  const decided = bad + c.succeeded + c.skipped
  if (bad === 0) return null
  const enough = decided >= Math.min(r.gate.minSamples, c.cohort)
  if (bad / c.cohort > r.gate.failureThreshold || (enough && bad / decided > r.gate.failureThreshold)) {
    return `step ${r.step}: ${bad} of ${c.cohort} devices failed or silent (${c.failed} failed, ${c.silent} silent), over the ${Math.round(r.gate.failureThreshold * 100)}% failure threshold`
  }
  return null
}

function trip(r: Rollout, reason: string, now: number, effects: Effect[]): Rollout {
  if (r.gate.onFailure === 'rollback') {
    effects.push({ type: 'event', event: 'rollout-rolled-back', message: reason, severity: 'critical', step: r.step })
    return { ...r, state: 'rolled-back', reason, pendingRollback: true, updatedAt: now }
  }
  effects.push({ type: 'event', event: 'rollout-paused', message: reason, severity: 'warning', step: r.step })
  return { ...r, state: 'paused', reason, updatedAt: now }
}

function advance(r: Rollout, c: Counts, now: number, effects: Effect[]): Rollout {
  if (c.pending > 0) return r
  const ok = c.succeeded + c.skipped
  if (r.kind === 'deploy' && c.cohort > 0 && (ok + r.acceptedFailures) / c.cohort < r.gate.successThreshold) {
    return trip(
      r,
      `step ${r.step}: ${ok} of ${c.cohort} devices succeeded, under the ${Math.round(r.gate.successThreshold * 100)}% success threshold`,
      now,
      effects,
    )
  }
  if (r.bakeUntil === null && r.bakeMs > 0) return { ...r, bakeUntil: now + r.bakeMs }
  if (r.bakeUntil !== null && now < r.bakeUntil) return r
  effects.push({
    type: 'event',
    event: 'step-completed',
    message: `step ${r.step} completed: ${ok} of ${c.cohort} devices`,
    severity: 'info',
    step: r.step,
  })
  if (r.step + 1 < r.steps.length) {
    effects.push({ type: 'event', event: 'step-started', message: `step ${r.step + 1} started`, severity: 'info', step: r.step + 1 })
    return { ...r, step: r.step + 1, stepStartedAt: now, bakeUntil: null, updatedAt: now }
  }
  if (r.mode === 'stage') {
    effects.push({ type: 'event', event: 'step-completed', message: 'candidate staged everywhere; waiting for switch', severity: 'info' })
    return { ...r, state: 'staged', updatedAt: now }
  }
  effects.push({ type: 'event', event: 'rollout-completed', message: `${r.kind} completed`, severity: 'info' }, { type: 'release' })
  return { ...r, state: 'completed', updatedAt: now }
}

function switching(r: Rollout, obs: Observations, progress: Progress, now: number, effects: Effect[]): Rollout {
  let open = 0
  for (const d of obs.devices) {
    const p = progress.get(d.id)
    if (p === undefined || p.outcome !== 'succeeded' || p.switched === 'done' || p.switched === 'failed') continue
    if (d.reported?.active?.sha256 === r.model.sha256 && d.reported.phase === 'active') {
      effects.push({ type: 'switched', deviceId: d.id, result: 'done' })
    } else if (p.switched === 'no') {
      effects.push({ type: 'switch', deviceId: d.id })
      open++
    } else if (now - (r.switchRequestedAt ?? now) > r.stepDeadlineMs) {
      effects.push({ type: 'switched', deviceId: d.id, result: 'failed' })
    } else open++
  }
  if (open > 0) return r
  effects.push({ type: 'event', event: 'rollout-completed', message: 'switched to the candidate', severity: 'info' }, { type: 'release' })
  return { ...r, state: 'completed', updatedAt: now }
}

function finalize(r: Rollout, obs: Observations, progress: Progress, effects: Effect[]): void {
  // A stopped rollout (aborted, or superseded by a deploy or rollback) sends the devices it was
  // still waiting for back to the model they ran, so none is left on a release nobody watches. A
  // device another rollout has taken over (locked by it, or sent a desired state since) is its.
  const superseded = (r.reason ?? '').startsWith(SUPERSEDED)
  if (r.state === 'aborted' || superseded) {
    for (const d of obs.devices) {
      const p = progress.get(d.id)
      if (p?.outcome !== 'pending' || p.from === null || d.lockedByOther || d.desiredBy !== r.id) continue
      effects.push({ type: 'revert', deviceId: d.id, to: p.from, reason: superseded ? (r.reason ?? 'superseded') : 'aborted' })
    }
  }
  if (r.pendingRollback) effects.push({ type: 'rollback-rollout', reason: r.reason ?? 'gate tripped' })
  effects.push({ type: 'release' })
}

/**
 * Devices the rules sent back (crashed, unresponsive) get a new desired state with the model they
 * ran before — retained, so one that is offline converges when it returns — and count as failed.
 */
function revertDevices(r: Rollout, obs: Observations, progress: Progress, now: number, effects: Effect[]): void {
  if (r.kind !== 'deploy') return
  for (const signal of obs.signals) {
    if (signal.action !== 'revert-devices') continue
    for (const id of signal.deviceIds) {
      const p = progress.get(id)
      if (p === undefined || p.from === null || p.gen === null || p.reverted) continue
      effects.push({ type: 'revert', deviceId: id, to: p.from, reason: signal.reason })
      progress.set(id, {
        ...p,
        outcome: 'failed',
        reverted: true,
        error: `${signal.reason}; sent back to ${p.from.version}`,
        outcomeAt: now,
      })
    }
  }
}

/**
 * The rollout engine's pure core: from a rollout, what the fleet shows, and the time, the next
 * rollout and the effects to apply. No I/O; the executor applies effects idempotently and stores
 * `next` only if nobody else moved the rollout meanwhile.
 */
export function step(rollout: Rollout, obs: Observations, now: number, progressIn: ReadonlyMap<string, DeviceProgress>): StepResult {
  const effects: Effect[] = []
  const progress: Progress = new Map(progressIn)
  let r = rollout
  if (TERMINAL_STATES.has(r.state)) {
    if (!r.finalized) finalize(r, obs, progress, effects)
    return { next: { ...r, finalized: true }, effects }
  }
  if (r.state === 'created') {
    effects.push({
      type: 'event',
      event: 'rollout-started',
      message: `${r.kind} of ${r.model.name}@${r.model.version} started`,
      severity: 'info',
    })
    effects.push({ type: 'event', event: 'step-started', message: 'step 0 started', severity: 'info', step: 0 })
    r = { ...r, state: 'running', stepStartedAt: now, updatedAt: now }
  }
  const verdicts = obs.signals.filter((s) => s.action === 'rollback' || s.action === 'pause')
  const signal = verdicts.find((s) => s.action === 'rollback') ?? verdicts.find((s) => s.action === 'pause' && r.state === 'running')
  if (signal !== undefined && signal.action !== 'revert-devices' && r.kind === 'deploy')
    return { next: trip({ ...r, gate: { ...r.gate, onFailure: signal.action } }, signal.reason, now, effects), effects }
  revertDevices(r, obs, progress, now, effects)
  updateOutcomes(r, obs, progress, now, effects)
  const all = members(r, obs, progress)
  const cohort = cohortOf(all, r.steps, r.step)
  if (r.state === 'running') r = dispatch(r, obs, cohort, progress, now, effects)
  const counts = countsOf(cohort, progress, obs.devices.filter((d) => d.inTarget).length)
  r = { ...r, counts }
  if (r.state === 'switching') return { next: switching(r, obs, progress, now, effects), effects }
  if (r.state === 'running' || r.state === 'staged') {
    const why = tripped(r, counts)
    if (why !== null) return { next: { ...trip(r, why, now, effects), counts }, effects }
  }
  if (r.state === 'running') r = advance(r, counts, now, effects)
  return { next: r, effects }
}
