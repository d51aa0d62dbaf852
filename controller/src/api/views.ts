import * as z from 'zod'
import type { LiveStore, LiveView } from '../registry/live.js'
import { slotOf } from '../registry/live.js'
import { DeviceRecordSchema, type DeviceRecord } from '../registry/registry.js'
import { DeviceRowSchema, deviceRows } from '../rollout/accounting.js'
import type { RolloutRepo } from '../rollout/repo.js'
import { RolloutSchema, type Rollout } from '../rollout/types.js'

/** A device as the API shows it: its registry record and live state. */
export const DeviceViewSchema = DeviceRecordSchema.extend({
  online: z.boolean().nullable(),
  session: z.number().nullable(),
  phase: z.string().nullable(),
  generation: z.number().nullable(),
  /** The active (or trial) model, `name@version`. */
  active: z.string().nullable(),
  /** The model kept for rollback (previous or staged), `name@version`. */
  standby: z.string().nullable(),
  error: z.string().nullable(),
  /** The hardware class the device reports (its profile), null before its first report. */
  hardware: z.string().nullable(),
  lastTelemetryAt: z.number().nullable(),
  /** The active rollout holding this device. */
  rollout: z.string().nullable(),
})
export type DeviceView = z.infer<typeof DeviceViewSchema>

/** A rollout with each device's part in it. */
export const RolloutViewSchema = RolloutSchema.extend({
  lease: z.string().nullable(),
  /** Every device: its part in the rollout, where it ended and why. */
  devices_: z.array(DeviceRowSchema),
})

/** Counts by online state, phase and active model. */
export const SummarySchema = z.record(z.string(), z.record(z.string(), z.number()))

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
    hardware: rep?.hardware ?? null,
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

/** A fleet summary: counts by online state, phase, active model and hardware class. */
export function summarize(views: readonly DeviceView[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = { online: {}, phase: {}, model: {}, hardware: {} }
  const inc = (k: string, v: string): void => {
    const bucket = out[k] ?? {}
    bucket[v] = (bucket[v] ?? 0) + 1
    out[k] = bucket
  }
  for (const v of views) {
    inc('online', v.online === null ? 'unknown' : v.online ? 'online' : 'offline')
    inc('phase', v.phase ?? 'unknown')
    inc('model', v.active ?? 'none')
    inc('hardware', v.hardware ?? 'unknown')
  }
  return out
}

/** A rollout with every device: its part in it, where it ended and why (`devices_`). */
export async function rolloutView(repo: RolloutRepo, live: LiveStore, r: Rollout): Promise<z.infer<typeof RolloutViewSchema>> {
  const [progress, lease, rollback] = await Promise.all([
    repo.progress(r.id),
    repo.leaseHolder(r.id),
    r.rolledBackBy === null ? Promise.resolve(null) : repo.progress(r.rolledBackBy),
  ])
  const ids = [...progress.keys()]
  const views = await live.views(ids)
  const byId = new Map(ids.map((id, i) => [id, views[i] as LiveView]))
  const rb = r.rolledBackBy === null || rollback === null ? null : { id: r.rolledBackBy, progress: rollback }
  return { ...r, lease, devices_: deviceRows(progress, rb, byId) }
}
