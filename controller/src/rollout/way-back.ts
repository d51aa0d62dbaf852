import type { Policy } from '@liquid-edge/protocol'
import type { ModelStore } from '../models/model-store.js'
import type { ModelSummary, PlanEntry } from './types.js'

/** What is known of one device when it must leave a release. */
export interface WayBackInput {
  /** The model it ran before the release; `null` for a first install. */
  from: ModelSummary | null
  /** The policy of the release being left: its `fallback` is the way back of last resort. */
  policy: Policy
  /** The model the device reports in its standby slot as `previous`, if any. */
  standby: ModelSummary | null
  /** The device still runs `from` and never acted on the release. */
  onFrom: boolean
  /** The device is online now (a command reaches it; a retained desired state reaches anyone). */
  reachable: boolean
}

function text(m: { name: string; version: string }): string {
  return `${m.name}@${m.version}`
}

/**
 * Where a device goes back to, best first: the model it ran before by a retained desired state
 * (the store holds it); that model where the device already is (its release state withdrawn) or in
 * its standby slot by command (online only); else the policy's fallback — a version from the store,
 * or no model — with a note saying why. Never nothing: no device is left on the release.
 */
export async function wayBack(models: Pick<ModelStore, 'find' | 'ref'>, w: WayBackInput): Promise<PlanEntry> {
  const from = w.from
  if (from !== null) {
    const record = await models.find(from.name, from.version)
    if (record !== null && record.sha256 === from.sha256)
      return { via: 'desired', model: models.ref(record), route: 'previous', note: null }
    if (w.onFrom) return { via: 'withdraw', model: from }
    if (w.reachable && w.standby?.sha256 === from.sha256) return { via: 'command', model: from }
  }
  const why = from === null ? 'no previous model (first install)' : `previous model ${text(from)} is not in the model store`
  const fallback = w.policy.fallback
  if (fallback === null) return { via: 'unload', note: `${why}; fallback: no model` }
  const record = await models.find(fallback.name, fallback.version)
  if (record === null) return { via: 'unload', note: `${why}; fallback ${text(fallback)} is not in the model store: no model` }
  return { via: 'desired', model: models.ref(record), route: 'fallback', note: `${why}; fallback ${text(fallback)}` }
}

/** The model a plan entry sends a device to (`null`: no model). */
export function destination(e: PlanEntry): ModelSummary | null {
  if (e.via === 'unload') return null
  return { name: e.model.name, version: e.model.version, sha256: e.model.sha256 }
}

/** The route of a plan entry. */
export function routeOf(e: PlanEntry): 'previous' | 'fallback' | 'version' {
  if (e.via === 'desired') return e.route
  return e.via === 'unload' ? 'fallback' : 'previous'
}

/** The note of a plan entry (why a fallback), or null. */
export function noteOf(e: PlanEntry): string | null {
  return e.via === 'desired' || e.via === 'unload' ? e.note : null
}
