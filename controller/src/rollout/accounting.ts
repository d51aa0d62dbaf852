import * as z from 'zod'
import type { DeviceAccount } from '@liquid-edge/protocol'
import type { LiveView } from '../registry/live.js'
import { slotOf } from '../registry/live.js'
import type { Effect } from './effects.js'
import {
  OUTCOMES,
  RouteSchema,
  type Counts,
  type DeviceProgress,
  type ModelSummary,
  type Outcome,
  type PlanEntry,
  type Rollout,
  type Route,
} from './types.js'
import { destination, noteOf, routeOf } from './way-back.js'

type Progress = ReadonlyMap<string, DeviceProgress>
type AccountOutcome = DeviceAccount['outcome']

const ACCOUNT_OUTCOME: Record<Outcome, AccountOutcome> = {
  pending: 'pending',
  succeeded: 'converged',
  skipped: 'converged',
  failed: 'failed',
  silent: 'unreachable',
}

function modelId(m: ModelSummary | null): { name: string; version: string } | null {
  return m === null ? null : { name: m.name, version: m.version }
}

/** Events carry device lists up to this many bytes of JSON, so that they stay under the wire's 64 KiB. */
const ACCOUNTS_MAX_BYTES = 40_000

/**
 * The first device accounts that fit in an event (at most 1,000 and about 40 KB of JSON); the
 * rollout itself lists them all.
 */
export function fitAccounts(all: readonly DeviceAccount[]): DeviceAccount[] {
  const out: DeviceAccount[] = []
  let bytes = 0
  for (const a of all) {
    const fitted = a.reason === undefined ? a : { ...a, reason: a.reason.slice(0, 160) }
    bytes += JSON.stringify(fitted).length + 1
    if (out.length >= 1000 || bytes > ACCOUNTS_MAX_BYTES) break
    out.push(fitted)
  }
  return out
}

/** How a device stands: one that is silent but online is not unreachable, it is still on its way. */
function accountOutcome(outcome: Outcome, online: boolean): AccountOutcome {
  return outcome === 'silent' && online ? 'pending' : ACCOUNT_OUTCOME[outcome]
}

/** Where each device of a rollback was sent and how it stands (as many as fit in an event). */
export function accounts(progress: Progress, online: ReadonlySet<string> = new Set()): DeviceAccount[] {
  const all: DeviceAccount[] = []
  for (const [deviceId, p] of progress) {
    const reason = p.note ?? (p.outcome === 'failed' || p.outcome === 'silent' ? p.error : null)
    all.push({
      deviceId,
      model: modelId(p.to),
      route: p.route,
      outcome: accountOutcome(p.outcome, online.has(deviceId)),
      ...(reason === null ? {} : { reason }),
    })
  }
  return fitAccounts(all)
}

/** The first 20 ids, then an ellipsis. */
export function listed(ids: readonly string[]): string {
  return `${ids.slice(0, 20).join(', ')}${ids.length > 20 ? ', …' : ''}`
}

/**
 * The completion events. A rollback's says where every device went and lists the unreachable
 * ones, and tells the rollout it rolled back the same (`events --rollout <it>` shows its devices).
 */
export function completed(r: Rollout, c: Counts, progress: Progress, online: ReadonlySet<string>): Effect[] {
  if (r.kind !== 'rollback') return [{ type: 'event', event: 'rollout-completed', message: `${r.kind} completed`, severity: 'info' }]
  const list = [...progress.values()]
  const done = (p: DeviceProgress): boolean => p.outcome === 'succeeded' || p.outcome === 'skipped'
  const on = (route: Route): number => list.filter((p) => p.route === route && done(p)).length
  const none = list.filter((p) => p.to === null && done(p)).length
  const silent = [...progress].filter(([, p]) => p.outcome === 'silent').map(([id]) => id)
  // Silent and online is not unreachable: the device is there but has not answered (the reconciler keeps sending it).
  const unreachable = silent.filter((id) => !online.has(id))
  const unanswered = silent.filter((id) => online.has(id))
  const where = [
    `${on('previous')} on their previous model`,
    `${on('fallback')} on the fallback${none > 0 ? ` (${none} with no model)` : ''}`,
    ...(on('version') > 0 ? [`${on('version')} on the version asked for`] : []),
  ]
  const parts = [
    `${c.succeeded + c.skipped} of ${c.cohort} devices converged (${where.join(', ')})`,
    ...(c.failed > 0 ? [`${c.failed} failed`] : []),
    ...(unreachable.length > 0 ? [`${unreachable.length} unreachable, converging when they return: ${listed(unreachable)}`] : []),
    ...(unanswered.length > 0
      ? [
          `${unanswered.length} online but silent for ${r.stepDeadlineMs} ms, the controller keeps sending their way back: ${listed(unanswered)}`,
        ]
      : []),
  ]
  const devices = accounts(progress, online)
  const event: Effect = {
    type: 'event',
    event: 'rollout-completed',
    message: `rollback completed: ${parts.join('; ')}`,
    severity: 'info',
    devices,
  }
  if (r.rollbackOf === null) return [event]
  const message = `rollback ${r.id} completed: ${parts.join('; ')}`
  return [event, { type: 'event', event: 'devices-returned', message, severity: 'info', devices, about: r.rollbackOf }]
}

const ACCOUNT_OUTCOMES = ['pending', 'converged', 'failed', 'unreachable'] as const

/** One device of a rollout, as `rollout show` lists it: its part, where it ended, and why. */
export const DeviceRowSchema = z.object({
  id: z.string(),
  step: z.number(),
  gen: z.number().nullable(),
  outcome: z.enum(OUTCOMES),
  error: z.string().nullable(),
  /** Sent back by this rollout (a rule found it crashed or unresponsive, or the rollout stopped). */
  reverted: z.boolean(),
  /** What this rollout sent it (`name@version`; `null`: no model). */
  to: z.string().nullable(),
  /** Why `to`: the release, the previous model, the policy's fallback, or a version asked for. */
  route: RouteSchema,
  /** Where it was sent back after the release (by this rollout, or by the rollback of it), and how that stands. */
  back: z
    .object({
      by: z.string(),
      to: z.string().nullable(),
      route: RouteSchema,
      reason: z.string().nullable(),
      state: z.enum(ACCOUNT_OUTCOMES),
    })
    .nullable(),
  /** What it reports now: its active model (`null`: none), phase and whether it is online. */
  now: z.object({ model: z.string().nullable(), phase: z.string().nullable(), online: z.boolean().nullable() }),
  /** Where it ended, in words ("cfc-sense@1.0.0", "no model", "unknown" before any report). */
  ended: z.string(),
  /** Why it is there, in words. */
  why: z.string(),
})
export type DeviceRow = z.infer<typeof DeviceRowSchema>

function modelText(m: { name: string; version: string } | null): string | null {
  return m === null ? null : `${m.name}@${m.version}`
}

/** The device reports `to` (a model, or no model), at or past `gen`. */
function reached(to: ModelSummary | null, gen: number | null, v: LiveView | undefined): boolean {
  const rep = v?.reported ?? null
  if (rep === null || (gen !== null && rep.generation < gen)) return false
  const active = slotOf(rep, 'active', 'trial')
  return to === null ? active === null && rep.phase === 'idle' : active?.sha256 === to.sha256
}

/** The device answered generation `gen` (a desired state's) with a failure, or reverted from it: a final answer. */
function refused(gen: number | null, v: LiveView | undefined): boolean {
  const rep = v?.reported ?? null
  return gen !== null && rep !== null && rep.generation === gen && (rep.phase === 'failed' || rep.phase === 'reverted')
}

function backState(outcome: Outcome, arrivedNow: boolean, online: boolean | null): AccountOutcome {
  if (arrivedNow) return 'converged'
  if (outcome === 'pending' && online !== true) return 'unreachable'
  return accountOutcome(outcome, online === true)
}

function sentBack(p: DeviceProgress, rb: { id: string; p: DeviceProgress } | null, v: LiveView | undefined): DeviceRow['back'] {
  const online = v?.status?.online ?? null
  if (rb !== null) {
    const reason = rb.p.note ?? (rb.p.outcome === 'failed' || rb.p.outcome === 'silent' ? rb.p.error : null)
    const state = backState(rb.p.outcome, reached(rb.p.to, rb.p.gen, v), online)
    return { by: rb.id, to: modelText(rb.p.to), route: rb.p.route, reason, state }
  }
  const ret = p.returned
  if (ret === null) return null
  const state = reached(ret.to, ret.gen, v) ? 'converged' : refused(ret.gen, v) ? 'failed' : online === true ? 'pending' : 'unreachable'
  return { by: 'this rollout', to: modelText(ret.to), route: ret.route, reason: ret.reason, state }
}

function explain(row: Omit<DeviceRow, 'ended' | 'why'>): string {
  const b = row.back
  if (b !== null) {
    const where =
      b.route === 'fallback'
        ? `the fallback (${b.reason ?? 'no way back'})`
        : b.route === 'version'
          ? 'the version asked for'
          : 'its previous model'
    const state = { converged: 'done', pending: 'on its way', failed: 'failed', unreachable: 'offline: it converges when it returns' }[
      b.state
    ]
    return `sent back by ${b.by} to ${where}: ${state}`
  }
  if (row.outcome === 'succeeded')
    return row.route === 'release' ? 'on the release' : `on ${row.route === 'fallback' ? 'the fallback' : 'its previous model'}`
  if (row.outcome === 'skipped') return 'already on the release'
  if (row.outcome === 'pending') return 'on its way'
  return `${row.outcome}: ${row.error ?? 'no reason given'}`
}

/**
 * Every device of a rollout with where it ended and why: its own progress, the progress of the
 * rollback that sent it back (if any), and what it reports now.
 */
export function deviceRows(
  progress: Progress,
  rollback: { id: string; progress: Progress } | null,
  views: ReadonlyMap<string, LiveView>,
): DeviceRow[] {
  const rows: DeviceRow[] = []
  for (const [id, p] of progress) {
    const v = views.get(id)
    const rbp = rollback?.progress.get(id)
    const base = {
      id,
      step: p.step,
      gen: p.gen,
      outcome: p.outcome,
      error: p.error,
      reverted: p.reverted,
      to: modelText(p.to),
      route: p.route,
      back: sentBack(p, rollback === null || rbp === undefined ? null : { id: rollback.id, p: rbp }, v),
      now: {
        model: modelText(slotOf(v?.reported ?? null, 'active', 'trial')),
        phase: v?.reported?.phase ?? null,
        online: v?.status?.online ?? null,
      },
    }
    rows.push({ ...base, ended: base.now.model ?? (base.now.phase === null ? 'unknown' : 'no model'), why: explain(base) })
  }
  return rows.sort((a, b) => (a.id < b.id ? -1 : 1))
}

/** What a rollback does: a line saying how many devices go where, and each device's destination. */
export function rollbackIssued(of: Rollout | null, plan: ReadonlyMap<string, PlanEntry>): { message: string; devices: DeviceAccount[] } {
  const entries = [...plan.values()]
  const count = (route: Route): number => entries.filter((e) => routeOf(e) === route).length
  const none = entries.filter((e) => e.via === 'unload').length
  const where = [
    ...(count('previous') > 0 ? [`${count('previous')} to their previous model`] : []),
    ...(count('fallback') > 0 ? [`${count('fallback')} to the fallback${none > 0 ? ` (${none} with no model)` : ''}`] : []),
    ...(count('version') > 0 ? [`${count('version')} to the version asked for`] : []),
  ]
  const devices = [...plan].map(([deviceId, e]): DeviceAccount => {
    const note = noteOf(e)
    return { deviceId, model: modelId(destination(e)), route: routeOf(e), outcome: 'pending', ...(note === null ? {} : { reason: note }) }
  })
  return {
    message: `rollback of ${plan.size} devices${of === null ? '' : ` (rollout ${of.id})`}: ${where.join(', ')}`,
    devices: fitAccounts(devices),
  }
}
