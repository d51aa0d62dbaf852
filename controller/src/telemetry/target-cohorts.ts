import { SHARE_KEYS, emptyStats, mergeStats, narrowStats, type WindowStats } from './window-stats.js'
import type { WindowStore } from './window-store.js'

/** A device of a target and the model it runs now (`name@version`), or null. */
export interface TargetDevice {
  id: string
  active: string | null
}

/** One cohort of a target: the devices on it now, and what the target's devices sent into it over the span. */
export interface TargetCohort {
  cohort: string
  /** The target's devices that run this model now: every device is counted once, so the rows add up to the target. */
  devices: number
  /** The target's devices that sent windows into this cohort during the span (a device that switched counts in both). */
  reporting: number
  /** Their own sums (counts, errors, mean latency, energy) from their shares; the histogram, temperature and memory are the version's. */
  stats: WindowStats
}

/**
 * A target's cohorts over the complete buckets of the last `spanMs`: device counts from what each
 * device runs now (a device counts once, `none` for no model), figures from the target's own shares
 * of each cohort's buckets — never another device's telemetry, whatever else runs that version.
 */
export async function targetCohorts(
  windows: WindowStore,
  devices: readonly TargetDevice[],
  spanMs: number,
  now: number,
): Promise<TargetCohort[]> {
  const end = windows.bucketOf(now)
  const [first, last] = [windows.bucketOf(end - spanMs), windows.bucketOf(end - 1)]
  const ids = devices.map((d) => d.id)
  const current = new Map<string, number>()
  for (const d of devices) current.set(d.active ?? 'none', (current.get(d.active ?? 'none') ?? 0) + 1)
  const out: TargetCohort[] = []
  for (const cohort of [...new Set([...current.keys(), ...(await windows.cohorts())])].sort()) {
    const shares = cohort === 'none' ? [] : [...(await windows.sharesOf(cohort, first, last, ids)).values()].flat()
    if (shares.length === 0 && !current.has(cohort)) continue
    const mine = emptyStats()
    for (const s of shares) for (const k of SHARE_KEYS) mine[k] += s[k]
    const version = cohort === 'none' ? emptyStats() : mergeStats((await windows.series(cohort, first, last)).map((b) => b.stats))
    const reporting = new Set(shares.map((s) => s.deviceId)).size
    out.push({ cohort, devices: current.get(cohort) ?? 0, reporting, stats: { ...narrowStats(version, [mine]), devices: reporting } })
  }
  return out
}
