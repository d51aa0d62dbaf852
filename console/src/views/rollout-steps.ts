import type { Progress, RolloutDetail } from '../api/schemas.js'
import { stepLabel } from '../format.js'

/** Devices of one step by what happened to them. */
export interface StepRow {
  index: number
  label: string
  status: 'done' | 'current' | 'waiting'
  /** Sent a desired state or command, no answer yet. */
  inProgress: number
  succeeded: number
  failed: number
  silent: number
  skipped: number
  /** Sent back to their previous model by a rule (crashed, unresponsive). */
  rolledBack: number
}

/** Per step of a rollout, its devices by outcome (from the per-device progress the API returns). */
export function stepRows(r: RolloutDetail): StepRow[] {
  const rows: StepRow[] = r.steps.map((s, index) => ({
    index,
    label: stepLabel(s),
    status: index < r.step || (index === r.step && r.state === 'completed') ? 'done' : index === r.step ? 'current' : 'waiting',
    inProgress: 0,
    succeeded: 0,
    failed: 0,
    silent: 0,
    skipped: 0,
    rolledBack: 0,
  }))
  for (const d of r.devices_) {
    const row = rows[d.step]
    if (row === undefined) continue
    if (d.reverted) row.rolledBack++
    else if (d.outcome === 'pending') row.inProgress++
    else if (d.outcome === 'succeeded') row.succeeded++
    else if (d.outcome === 'failed') row.failed++
    else if (d.outcome === 'silent') row.silent++
    else if (d.outcome === 'skipped') row.skipped++
  }
  return rows
}

/** The desired-state generations a rollout wrote: lowest, highest, and to how many devices. */
export function generations(devices: readonly Progress[]): { min: number; max: number; devices: number } | null {
  const gens = devices.flatMap((d) => (d.gen === null ? [] : [d.gen]))
  if (gens.length === 0) return null
  return { min: Math.min(...gens), max: Math.max(...gens), devices: gens.length }
}
