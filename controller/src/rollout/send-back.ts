import type { DeviceAccount, ErrorPayload, ModelRef } from '@liquid-edge/protocol'
import type { DesiredStates } from '../desired/desired-states.js'
import type { PendingCommands } from '../desired/pending-commands.js'
import type { ModelStore } from '../models/model-store.js'
import type { DeviceObservation } from './observations.js'
import type { RolloutRepo } from './repo.js'
import type { DeviceProgress, ModelSummary, PlanEntry, Return, Rollout } from './types.js'
import { destination, noteOf, routeOf, wayBack } from './way-back.js'

export interface SendBackDeps {
  repo: RolloutRepo
  models: ModelStore
  desired: DesiredStates
  commands: PendingCommands
  now: () => number
}

/**
 * How long a rollout's command (a way back by standby slot, a blue-green switch) stays valid. It
 * is sent again when the device comes back online, so it outlives a day offline.
 */
export const COMMAND_TTL_MS = 24 * 3600_000

/** The reason a fallback desired state carries (the agent reports it back). */
export function fallbackReason(why: string, note: string | null): ErrorPayload | null {
  return note === null ? null : { code: 'ROLLOUT_FALLBACK', message: `${why}; ${note}`.slice(0, 2048), retryable: false }
}

function modelFields(m: ModelSummary | null): { name: string | null; version: string | null; sha256: string | null } {
  return m === null ? { name: null, version: null, sha256: null } : { name: m.name, version: m.version, sha256: m.sha256 }
}

/**
 * Take one device of `r` back along `entry`, by a retained desired state (a model, or none), a
 * command to its standby slot, or by withdrawing the release it never acted on. Every way writes
 * the device's desired record, so the controller knows where it should be. Returns what was done.
 */
export async function sendBack(
  d: SendBackDeps,
  r: Rollout,
  deviceId: string,
  entry: PlanEntry,
  why: string,
  p: DeviceProgress,
): Promise<Return> {
  const now = d.now()
  const to = destination(entry)
  const route = routeOf(entry) === 'fallback' ? 'fallback' : 'previous'
  const note = noteOf(entry)
  const record = { rolloutId: r.id, ...modelFields(to), mode: 'activate' as const, at: now, from: null }
  const minGen = (p.gen ?? 0) + 1
  const reason = `${why}${note === null ? '' : `; ${note}`}`
  if (entry.via === 'desired' || entry.via === 'unload') {
    const body = { policy: { ...r.policy, trialMs: 0 }, mode: 'activate' as const, expiresAt: null, reason: fallbackReason(why, note) }
    const tpl = await d.desired.saveTemplate(body)
    const gen = await d.repo.nextGeneration(deviceId, { ...record, body: tpl }, minGen)
    const model: ModelRef | null = entry.via === 'desired' ? entry.model : null
    await d.desired.publish(deviceId, { generation: gen, rolloutId: r.id, model, ...body })
    return { to, route, reason, gen, at: now }
  }
  // Neither way is carried by a retained message: the record says so, and nothing republishes it (a command
  // is kept pending and sent again when the device comes back).
  await d.repo.nextGeneration(deviceId, { ...record, retained: false }, minGen)
  if (entry.via === 'withdraw') await d.desired.withdraw(deviceId)
  else {
    await d.commands.send(
      deviceId,
      { kind: 'rollback', expiresAt: now + COMMAND_TTL_MS, to: { to: 'previous' } },
      `${r.id}.${deviceId}.back`,
    )
  }
  return { to, route, reason, gen: null, at: now }
}

/** Send a device of a deploy back (abort, superseded, rules): its previous model, else the policy's fallback. */
export async function revertDevice(
  d: SendBackDeps,
  r: Rollout,
  deviceId: string,
  why: string,
  p: DeviceProgress,
  obs: DeviceObservation | undefined,
): Promise<{ progress: DeviceProgress; account: DeviceAccount }> {
  const rep = obs?.reported ?? null
  const entry = await wayBack(d.models, {
    from: p.from,
    policy: r.policy,
    standby: rep?.previous ?? null,
    onFrom: p.from !== null && rep?.active?.sha256 === p.from.sha256 && rep.generation < (p.gen ?? 0),
    reachable: obs?.online === true,
  })
  const ret = await sendBack(d, r, deviceId, entry, why, p)
  const where = ret.to === null ? 'no model' : ret.to.version
  const progress: DeviceProgress = {
    ...p,
    outcome: 'failed',
    reverted: true,
    error: `${why}; sent back to ${where}${ret.route === 'fallback' ? ' (fallback)' : ''}`.slice(0, 512),
    outcomeAt: ret.at,
    returned: ret,
  }
  const account: DeviceAccount = {
    deviceId,
    model: ret.to === null ? null : { name: ret.to.name, version: ret.to.version },
    route: ret.route,
    outcome: 'pending',
    reason: ret.reason.slice(0, 512),
  }
  return { progress, account }
}
