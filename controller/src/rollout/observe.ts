import type { LiveStore, LiveReported } from '../registry/live.js'
import { slotOf } from '../registry/live.js'
import type { Registry } from '../registry/registry.js'
import { bucketOf } from './membership.js'
import { UNKNOWN_CLASS, type DeviceObservation, type Observations, type ReportedView, type Signal } from './observations.js'
import type { DesiredRecord, RolloutRepo } from './repo.js'
import type { DeviceProgress, Rollout } from './types.js'

export interface ObserveDeps {
  repo: RolloutRepo
  registry: Registry
  live: LiveStore
  /** The seam for telemetry rules: verdicts on a rollout. */
  signals: (rollout: Rollout) => Promise<Signal[]>
}

export function reportedView(rep: LiveReported | null): ReportedView | null {
  if (rep === null) return null
  return {
    generation: rep.generation,
    phase: rep.phase,
    active: slotOf(rep, 'active', 'trial'),
    staged: slotOf(rep, 'staged'),
    previous: slotOf(rep, 'previous'),
    error: rep.error,
  }
}

/** The model sha a device runs or is on its way to. */
export function currentSha(desired: DesiredRecord | null, rep: LiveReported | null): string | null {
  const active = slotOf(rep, 'active', 'trial')?.sha256 ?? null
  if (desired === null) return active
  if (rep !== null && rep.generation >= desired.gen) return desired.mode === 'stage' ? active : active
  return desired.mode === 'stage' ? active : desired.sha256
}

/** Gather what one tick of a rollout judges: target devices, their progress and live state. */
export async function observe(d: ObserveDeps, r: Rollout): Promise<{ obs: Observations; progress: Map<string, DeviceProgress> }> {
  const explicit = new Set(r.devices ?? [])
  const [progress, plan, targetDevices, active] = await Promise.all([
    d.repo.progress(r.id),
    r.kind === 'rollback' ? d.repo.plan(r.id) : Promise.resolve(null),
    r.devices === null ? d.registry.list(r.target ?? '') : d.registry.list().then((all) => all.filter((x) => explicit.has(x.id))),
    d.repo.activeIds(),
  ])
  const labels = new Map(targetDevices.map((x) => [x.id, x.labels]))
  const ids = [...new Set([...labels.keys(), ...progress.keys()])]
  const [views, locks, desired, signals] = await Promise.all([d.live.views(ids), d.repo.locks(ids), d.repo.desired(ids), d.signals(r)])
  const activeSet = new Set(active)
  const devices: DeviceObservation[] = ids.map((id, i) => {
    const rep = views[i]?.reported ?? null
    const lock = locks[i] ?? null
    return {
      id,
      bucket: bucketOf(id, r.salt),
      stratum: r.stratifyBy === null ? '' : (labels.get(id)?.[r.stratifyBy] ?? ''),
      inTarget: labels.has(id),
      progress: progress.get(id) ?? null,
      reported: reportedView(rep),
      online: views[i]?.status?.online ?? null,
      lockedByOther: lock !== null && lock !== r.id && activeSet.has(lock),
      currentSha: currentSha(desired[i] ?? null, rep),
      desiredBy: desired[i]?.rolloutId ?? null,
      plan: plan?.get(id) ?? null,
      hardware: rep?.hardware ?? UNKNOWN_CLASS,
    }
  })
  return { obs: { devices, signals }, progress }
}
