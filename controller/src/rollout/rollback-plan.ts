import { FleetError, PolicySchema, type ModelRef, type Policy } from '@liquid-edge/protocol'
import type { ModelStore } from '../models/model-store.js'
import { slotOf, type LiveReported, type LiveStore, type LiveView } from '../registry/live.js'
import type { Registry } from '../registry/registry.js'
import { currentSha } from './observe.js'
import type { DesiredRecord, RolloutRepo } from './repo.js'
import type { ModelSummary, PlanEntry, Rollout } from './types.js'
import { destination, wayBack } from './way-back.js'
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

/**
 * The model a device ran before the rollout that last sent it its model — the way back when its
 * standby slot was freed (a blue-green `decommission` after the `switch`): `null` for a first
 * install, `undefined` when no rollout says.
 */
async function beforeLastRollout(d: PlanDeps, id: string, rec: DesiredRecord | null): Promise<ModelSummary | null | undefined> {
  if (rec?.rolloutId == null) return undefined
  if (rec.from !== undefined) return rec.from
  const r = await d.repo.find(rec.rolloutId)
  if (r === null || r.kind !== 'deploy') return undefined
  return (await d.repo.progressOf(r.id, id))?.from
}

/** The policies of the rollouts that wrote these records (for their fallback), by rollout id. */
async function policies(d: PlanDeps, desired: readonly (DesiredRecord | null)[]): Promise<Map<string, Policy>> {
  const ids = [...new Set(desired.map((rec) => rec?.rolloutId).filter((id): id is string => id !== null && id !== undefined))]
  const found = await Promise.all(ids.map((id) => d.repo.find(id)))
  return new Map(found.filter((r): r is Rollout => r !== null).map((r) => [r.id, r.policy]))
}

const DEFAULT_POLICY = PolicySchema.parse({ latencyThresholdMs: 1000 })

/**
 * Where one device goes "back to previous": the model a rollout recorded it ran before, else its
 * standby slot, else the `from` of its desired record — and when that is a first install or a model
 * the store does not hold, the fallback of the release's policy. `null`: nothing to go back from.
 */
async function backTo(
  d: PlanDeps,
  w: { known: ModelSummary | null | undefined; policy: Policy; rep: LiveReported | null; rec: DesiredRecord | null; online: boolean },
) {
  if (w.known === undefined) return null
  const active = slotOf(w.rep, 'active', 'trial')
  return wayBack(d.models, {
    from: w.known,
    policy: w.policy,
    standby: slotOf(w.rep, 'previous'),
    onFrom: w.known !== null && active?.sha256 === w.known.sha256 && w.rec !== null && (w.rep?.generation ?? 0) < w.rec.gen,
    reachable: w.online,
  })
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
  const byRollout = of === null ? await policies(d, desired) : new Map<string, Policy>()
  let leaving: ModelSummary | null = null
  for (const [i, id] of ids.entries()) {
    const rep = views[i]?.reported ?? null
    const rec = desired[i] ?? null
    const current = currentSha(rec, rep)
    const known = from.has(id) ? from.get(id) : (slotOf(rep, 'previous') ?? (await beforeLastRollout(d, id, rec)))
    const policy = of?.policy ?? byRollout.get(rec?.rolloutId ?? '') ?? DEFAULT_POLICY
    const entry: PlanEntry | null = back.has(id)
      ? null
      : versionRef !== null
        ? { via: 'desired', model: versionRef, route: 'version', note: null }
        : await backTo(d, { known, policy, rep, rec, online: views[i]?.status?.online === true })
    if (entry === null || (destination(entry)?.sha256 ?? null) === current) {
      unchanged++
      continue
    }
    leaving ??=
      slotOf(rep, 'active', 'trial') ??
      (rec?.sha256 == null ? null : { name: rec.name ?? '', version: rec.version ?? '', sha256: rec.sha256 })
    plan.set(id, entry)
  }
  return { plan, of, unchanged, primary: primaryOf(plan, of, leaving) }
}

/** The model shown as a rollback's: the first model it sends, else the release it leaves. */
function primaryOf(plan: ReadonlyMap<string, PlanEntry>, of: Rollout | null, leaving: ModelSummary | null): ModelRef | null {
  const entries = [...plan.values()]
  const desired = entries.find((e) => e.via === 'desired')
  if (desired?.via === 'desired') return desired.model
  for (const e of entries) if (e.via === 'command' || e.via === 'withdraw') return standbyRef(e.model)
  if (plan.size === 0) return null
  return of?.model ?? (leaving === null ? null : standbyRef(leaving))
}
