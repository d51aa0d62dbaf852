import { completed, listed } from './accounting.js'
import { type Effect } from './effects.js'
import { cohortOf, type Member } from './membership.js'
import type { DeviceObservation, Observations, ReportedView } from './observations.js'
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
import { destination, noteOf, routeOf } from './way-back.js'

export interface StepResult {
  next: Rollout
  effects: Effect[]
}

type Progress = Map<string, DeviceProgress>

function summary(m: ModelSummary): ModelSummary {
  return { name: m.name, version: m.version, sha256: m.sha256 }
}

const BAD: ReadonlySet<string> = new Set(['failed', 'reverted'])

/** The outcome of a rollback device that is offline: it does not hold the rollback up. */
export const UNREACHABLE = 'unreachable (offline): it converges from its retained desired state when it returns'

/** The device reports what `p` sent it: the model (or no model), settled. */
function arrived(r: Rollout, p: DeviceProgress, rep: ReportedView): boolean {
  if (p.to === null) return rep.active === null && rep.phase === 'idle'
  const sha = p.to.sha256
  if (r.mode === 'stage')
    return (rep.active?.sha256 === sha || rep.staged?.sha256 === sha) && (rep.phase === 'staged' || rep.phase === 'active')
  // A way back by command during a trial ends it as a local revert (`reverted`) on the old model.
  return rep.active?.sha256 === sha && (rep.phase === 'active' || (p.gen === null && rep.phase === 'reverted'))
}

/**
 * The outcome a pending (or decided) device has now, from what it reported. A rollback does not
 * wait for a device that is offline: it counts as silent (unreachable) and converges later.
 */
export function judge(r: Rollout, p: DeviceProgress, d: DeviceObservation, now: number): { outcome: Outcome; error: string | null } {
  const rep = d.reported
  if (p.outcome === 'skipped') return { outcome: 'skipped', error: null }
  if (p.reverted) return { outcome: 'failed', error: p.error }
  if (rep !== null) {
    const current = p.gen === null || rep.generation >= p.gen
    if (current && arrived(r, p, rep)) return { outcome: 'succeeded', error: null }
    if (p.gen !== null && rep.generation === p.gen && BAD.has(rep.phase)) return { outcome: 'failed', error: rep.error ?? rep.phase }
  }
  if (p.outcome !== 'pending') return { outcome: p.outcome, error: p.error }
  if (r.kind === 'rollback' && d.online !== true) return { outcome: 'silent', error: UNREACHABLE }
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

/** Hardware classes the rules took out of this rollout, with why. */
function excludedClasses(obs: Observations): Map<string, string> {
  const out = new Map<string, string>()
  for (const s of obs.signals) if (s.action === 'revert-class' && !out.has(s.hardware)) out.set(s.hardware, s.reason)
  return out
}

/**
 * The rollout's devices. A hardware class the rules took out is no longer part of it: its devices
 * get no release, and the gate and the steps judge the other classes only (its devices stay in the
 * device table, failed, with where they were sent back).
 */
function members(r: Rollout, obs: Observations, progress: Progress, excluded: ReadonlyMap<string, string>): Member[] {
  return obs.devices
    .filter((d) => progress.has(d.id) || (d.inTarget && !d.lockedByOther && (r.kind === 'deploy' || d.plan !== null)))
    .filter((d) => !excluded.has(d.hardware))
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
  // In flight: told and not yet answered, and online. An offline device converges from its retained
  // desired state when it returns; it loads neither the artifact server nor the broker meanwhile.
  let inFlight = 0
  for (const [id, p] of progress) if (p.outcome === 'pending' && byId.get(id)?.online !== false) inFlight++
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
    const note = plan === null ? null : noteOf(plan)
    const route = plan === null ? 'release' : routeOf(plan)
    if (plan?.via === 'command') effects.push({ type: 'rollback-command', deviceId: d.id, step: r.step, to: plan.model, from })
    else if (plan?.via === 'withdraw') effects.push({ type: 'withdraw', deviceId: d.id, step: r.step, model: plan.model })
    else {
      const model = plan === null ? r.model : plan.via === 'desired' ? plan.model : null
      effects.push({ type: 'dispatch', deviceId: d.id, step: r.step, model, from, route, note })
    }
    const to = plan === null ? summary(r.model) : destination(plan)
    progress.set(d.id, newProgress({ gen: 0, step: r.step, at: now, published: false, outcome: 'pending', from, to, route, note }))
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

/**
 * The failure gate: failed and silent devices as a share of the devices the step targets, once at
 * least `minSamples` of them (or all, in a smaller step) have an outcome. Not a share of those
 * finished so far: the first outcomes of a large step are its fastest failures (timeouts while
 * thousands download), not its failure rate.
 */
function tripped(r: Rollout, c: Counts): string | null {
  if (r.kind === 'rollback' || c.cohort === 0) return null
  const bad = Math.max(0, c.failed + c.silent - r.acceptedFailures)
  const decided = c.failed + c.silent + c.succeeded + c.skipped
  if (bad === 0 || decided < Math.min(r.gate.minSamples, c.cohort)) return null
  if (bad / c.cohort <= r.gate.failureThreshold) return null
  return `step ${r.step}: ${bad} of ${c.cohort} devices failed or silent (${c.failed} failed, ${c.silent} silent), over the ${Math.round(r.gate.failureThreshold * 100)}% failure threshold`
}

function trip(r: Rollout, reason: string, now: number, effects: Effect[]): Rollout {
  if (r.gate.onFailure === 'rollback') {
    effects.push({ type: 'event', event: 'rollout-rolled-back', message: reason, severity: 'critical', step: r.step })
    return { ...r, state: 'rolled-back', reason, pendingRollback: true, updatedAt: now }
  }
  effects.push({ type: 'event', event: 'rollout-paused', message: reason, severity: 'warning', step: r.step })
  return { ...r, state: 'paused', reason, updatedAt: now }
}

function advance(r: Rollout, c: Counts, progress: Progress, online: ReadonlySet<string>, now: number, effects: Effect[]): Rollout {
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
  effects.push(...completed(r, c, progress, online), { type: 'release' })
  return { ...r, state: 'completed', updatedAt: now }
}

/**
 * Blue-green: send `switch` to every staged device and wait for the reachable ones. One that is
 * offline does not hold the switch up: its command stays pending and reaches it when it returns.
 */
function switching(r: Rollout, obs: Observations, progress: Progress, now: number, effects: Effect[]): Rollout {
  let open = 0
  const away: string[] = []
  for (const d of obs.devices) {
    const p = progress.get(d.id)
    if (p === undefined || p.outcome !== 'succeeded' || p.switched === 'done' || p.switched === 'failed') continue
    if (d.reported?.active?.sha256 === r.model.sha256 && d.reported.phase === 'active') {
      effects.push({ type: 'switched', deviceId: d.id, result: 'done' })
    } else if (p.switched === 'no') {
      effects.push({ type: 'switch', deviceId: d.id })
      open++
    } else if (d.online !== true) away.push(d.id)
    else if (now - (r.switchRequestedAt ?? now) > r.stepDeadlineMs) {
      effects.push({ type: 'switched', deviceId: d.id, result: 'failed' })
    } else open++
  }
  if (open > 0) return r
  const message =
    away.length === 0
      ? 'switched to the candidate'
      : `switched to the candidate; ${away.length} unreachable, switching when they return: ${listed(away)}`
  effects.push({ type: 'event', event: 'rollout-completed', message, severity: 'info' }, { type: 'release' })
  return { ...r, state: 'completed', updatedAt: now }
}

function finalize(r: Rollout, obs: Observations, progress: Progress, effects: Effect[]): void {
  // A stopped rollout (aborted, or superseded by a deploy or rollback) sends the devices it was
  // still waiting for back to the model they ran, so none is left on a release nobody watches. A
  // device another rollout has taken over (locked by it, or sent a desired state since) is its.
  // A device with no previous model goes to the policy's fallback (the executor finds the way).
  // An aborted rollback leaves its devices on their way back: the release it left was the bad one.
  const superseded = (r.reason ?? '').startsWith(SUPERSEDED)
  if (r.kind === 'deploy' && (r.state === 'aborted' || superseded)) {
    for (const d of obs.devices) {
      const p = progress.get(d.id)
      if (p?.outcome !== 'pending' || d.lockedByOther || d.desiredBy !== r.id) continue
      effects.push({ type: 'revert', deviceId: d.id, reason: superseded ? (r.reason ?? 'superseded') : 'aborted' })
    }
  }
  if (r.pendingRollback) effects.push({ type: 'rollback-rollout', reason: r.reason ?? 'gate tripped' })
  effects.push({ type: 'release' })
}

/**
 * Devices the rules sent back (crashed, unresponsive, or of a hardware class they took out) get a
 * new desired state with the model they ran before, or the policy's fallback — retained, so one
 * that is offline converges when it returns — and count as failed.
 */
function revertDevices(
  r: Rollout,
  obs: Observations,
  progress: Progress,
  excluded: ReadonlyMap<string, string>,
  now: number,
  effects: Effect[],
): void {
  if (r.kind !== 'deploy') return
  const back = new Map<string, string>()
  for (const signal of obs.signals) if (signal.action === 'revert-devices') for (const id of signal.deviceIds) back.set(id, signal.reason)
  for (const d of obs.devices) {
    const reason = excluded.get(d.hardware)
    if (reason !== undefined && !back.has(d.id)) back.set(d.id, reason)
  }
  for (const [id, reason] of back) {
    const p = progress.get(id)
    if (p === undefined || p.gen === null || p.reverted) continue
    effects.push({ type: 'revert', deviceId: id, reason })
    progress.set(id, { ...p, outcome: 'failed', reverted: true, error: reason, outcomeAt: now })
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
  if (signal !== undefined && (signal.action === 'rollback' || signal.action === 'pause') && r.kind === 'deploy')
    return { next: trip({ ...r, gate: { ...r.gate, onFailure: signal.action } }, signal.reason, now, effects), effects }
  const excluded = excludedClasses(obs)
  revertDevices(r, obs, progress, excluded, now, effects)
  updateOutcomes(r, obs, progress, now, effects)
  const all = members(r, obs, progress, excluded)
  const cohort = cohortOf(all, r.steps, r.step)
  if (r.state === 'running') r = dispatch(r, obs, cohort, progress, now, effects)
  const counts = countsOf(cohort, progress, obs.devices.filter((d) => d.inTarget).length)
  r = { ...r, counts }
  if (r.state === 'switching') return { next: switching(r, obs, progress, now, effects), effects }
  if (r.state === 'running' || r.state === 'staged') {
    const why = tripped(r, counts)
    if (why !== null) return { next: { ...trip(r, why, now, effects), counts }, effects }
  }
  const online = new Set(obs.devices.filter((d) => d.online === true).map((d) => d.id))
  if (r.state === 'running') r = advance(r, counts, progress, online, now, effects)
  return { next: r, effects }
}
