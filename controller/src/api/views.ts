import type { LiveStore, LiveView } from '../registry/live.js'
import { slotOf } from '../registry/live.js'
import type { DeviceRecord } from '../registry/registry.js'
import type { RolloutRepo } from '../rollout/repo.js'
import type { Rollout } from '../rollout/types.js'

export interface DeviceView extends DeviceRecord {
  online: boolean | null
  session: number | null
  phase: string | null
  generation: number | null
  active: string | null
  standby: string | null
  error: string | null
  lastTelemetryAt: number | null
  rollout: string | null
}

function modelText(m: { name: string; version: string } | null): string | null {
  return m === null ? null : `${m.name}@${m.version}`
}

export function deviceView(d: DeviceRecord, v: LiveView | undefined, lock: string | null): DeviceView {
  const rep = v?.reported ?? null
  return {
    ...d,
    online: v?.status?.online ?? null,
    session: v?.status?.session ?? null,
    phase: rep?.phase ?? null,
    generation: rep?.generation ?? null,
    active: modelText(slotOf(rep, 'active', 'trial')),
    standby: modelText(slotOf(rep, 'previous', 'staged')),
    error: rep?.error ?? null,
    lastTelemetryAt: v?.lastTelemetryAt ?? null,
    rollout: lock,
  }
}

export async function deviceViews(live: LiveStore, repo: RolloutRepo, devices: readonly DeviceRecord[]): Promise<DeviceView[]> {
  const ids = devices.map((d) => d.id)
  const [views, locks, active] = await Promise.all([live.views(ids), repo.locks(ids), repo.activeIds()])
  const activeSet = new Set(active)
  return devices.map((d, i) => {
    const lock = locks[i] ?? null
    return deviceView(d, views[i], lock !== null && activeSet.has(lock) ? lock : null)
  })
}

/** A fleet summary: counts by online state, phase and active model. */
export function summarize(views: readonly DeviceView[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = { online: {}, phase: {}, model: {} }
  const inc = (k: string, v: string): void => {
    const bucket = out[k] ?? {}
    bucket[v] = (bucket[v] ?? 0) + 1
    out[k] = bucket
  }
  for (const v of views) {
    inc('online', v.online === null ? 'unknown' : v.online ? 'online' : 'offline')
    inc('phase', v.phase ?? 'unknown')
    inc('model', v.active ?? 'none')
  }
  return out
}

/** A rollout with its per-device progress. */
export async function rolloutView(
  repo: RolloutRepo,
  r: Rollout,
): Promise<
  Rollout & { devices_: { id: string; outcome: string; gen: number | null; step: number; error: string | null }[]; lease: string | null }
> {
  const [progress, lease] = await Promise.all([repo.progress(r.id), repo.leaseHolder(r.id)])
  return {
    ...r,
    lease,
    devices_: [...progress]
      .map(([id, p]) => ({ id, outcome: p.outcome, gen: p.gen, step: p.step, error: p.error }))
      .sort((a, b) => (a.id < b.id ? -1 : 1)),
  }
}
