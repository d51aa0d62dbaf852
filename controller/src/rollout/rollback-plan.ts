import { FleetError, type ModelRef } from '@liquid-edge/protocol'
import type { ModelStore } from '../models/model-store.js'
import { slotOf, type LiveStore, type LiveView } from '../registry/live.js'
import type { Registry } from '../registry/registry.js'
import { currentSha } from './observe.js'
import type { DesiredRecord, RolloutRepo } from './repo.js'
import type { ModelSummary, PlanEntry, Rollout } from './types.js'
import type { RollbackRequestSchema } from './requests.js'
import type * as z from 'zod'

export interface PlanDeps {
  repo: RolloutRepo
  registry: Registry
  live: LiveStore
  models: ModelStore
}

export interface RollbackPlan {
  plan: Map<string, PlanEntry>
  of: Rollout | null
  unchanged: number
  /** The model shown as the rollback's target. */
  primary: ModelRef | null
}

/** A stand-in reference for a model known only as a device's standby slot (reached by command, never downloaded). */
function standbyRef(m: ModelSummary): ModelRef {
  return { ...m, size: 1, url: 'http://standby.invalid/slot', signature: `${'A'.repeat(86)}==` }
}

async function scope(
  d: PlanDeps,
  req: z.output<typeof RollbackRequestSchema>,
): Promise<{ ids: string[]; of: Rollout | null; from: Map<string, ModelSummary | null> }> {
  const from = new Map<string, ModelSummary | null>()
  if (req.rolloutId !== undefined) {
    const of = await d.repo.get(req.rolloutId)
    const progress = await d.repo.progress(of.id)
    for (const [id, p] of progress) if (p.outcome !== 'skipped') from.set(id, p.from)
    return { ids: [...from.keys()], of, from }
  }
  if (req.deviceId !== undefined) return { ids: [(await d.registry.get(req.deviceId)).id], of: null, from }
  return { ids: (await d.registry.list(req.target ?? '')).map((x) => x.id), of: null, from }
}

/**
 * Devices that are where a rollback (or a rules revert) last sent them. For them "to previous" is
 * done: their standby slot now holds the release they left, and going "back" again would return
 * them to it — a repeated rollback must change nothing.
 */
async function alreadyBack(
  d: PlanDeps,
  ids: readonly string[],
  desired: readonly (DesiredRecord | null)[],
  views: readonly (LiveView | null)[],
) {
  const rollouts = new Map<string, Promise<Rollout | null>>()
  const back = new Set<string>()
  for (const [i, id] of ids.entries()) {
    const rec = desired[i] ?? null
    if (rec?.rolloutId == null || currentSha(rec, views[i]?.reported ?? null) !== rec.sha256) continue
    const sent = rollouts.get(rec.rolloutId) ?? d.repo.find(rec.rolloutId)
    rollouts.set(rec.rolloutId, sent)
    const r = await sent
    if (r !== null && (r.kind === 'rollback' || r.model.sha256 !== rec.sha256)) back.add(id)
  }
  return back
}

/** Which devices a rollback touches and where each goes; devices already there are left alone. */
export async function planRollback(d: PlanDeps, req: z.output<typeof RollbackRequestSchema>): Promise<RollbackPlan> {
  const { ids, of, from } = await scope(d, req)
  const [views, desired] = await Promise.all([d.live.views(ids), d.repo.desired(ids)])
  const plan = new Map<string, PlanEntry>()
  let unchanged = 0
  let versionRef: ModelRef | null = null
  if (req.toVersion !== undefined) {
    const name =
      req.model ??
      of?.model.name ??
      ids.map((_, i) => slotOf(views[i]?.reported ?? null, 'active', 'trial')?.name).find((n) => n !== undefined)
    if (name === undefined) throw new FleetError('MODEL_NOT_FOUND', `cannot tell which model ${req.toVersion} is: pass the model name`)
    versionRef = d.models.ref(await d.models.get(name, req.toVersion))
  }
  const back = req.toPrevious === true && of === null ? await alreadyBack(d, ids, desired, views) : new Set<string>()
  for (const [i, id] of ids.entries()) {
    const rep = views[i]?.reported ?? null
    if (back.has(id)) {
      unchanged++
      continue
    }
    const target: ModelSummary | null = versionRef ?? from.get(id) ?? slotOf(rep, 'previous')
    if (target === null || currentSha(desired[i] ?? null, rep) === target.sha256) {
      unchanged++
      continue
    }
    const record = versionRef === null ? await d.models.find(target.name, target.version) : null
    if (versionRef !== null) plan.set(id, { via: 'desired', model: versionRef })
    else if (record !== null && record.sha256 === target.sha256) plan.set(id, { via: 'desired', model: d.models.ref(record) })
    else plan.set(id, { via: 'command', model: { name: target.name, version: target.version, sha256: target.sha256 } })
  }
  const first = [...plan.values()][0]
  const primary = first === undefined ? null : first.via === 'desired' ? first.model : standbyRef(first.model)
  return { plan, of, unchanged, primary }
}
