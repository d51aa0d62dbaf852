import type { Clock } from '../clock.js'
import type { LiveStore } from '../registry/live.js'
import { UNKNOWN_CLASS, type DeviceObservation } from './observations.js'
import { reportedView } from './observe.js'
import type { RolloutRepo } from './repo.js'
import { judge } from './state-machine.js'
import { TERMINAL_STATES, type Counts, type Outcome, type Rollout } from './types.js'

/** Outcomes a later report can still turn into success (a device back from being offline). */
const OPEN: ReadonlySet<Outcome> = new Set(['pending', 'silent', 'failed'])
const CACHE = 200
const FRESH_MS = 1000

function moved(c: Counts, from: Outcome, to: Outcome): Counts {
  if (from === to || c[from] <= 0) return c
  return { ...c, [from]: c[from] - 1, [to]: c[to] + 1 }
}

/**
 * Finished rollouts keep counting: a device that was offline when its rollout (or rollback)
 * finished converges from its retained desired state when it returns, and its report turns its
 * `silent` outcome into `succeeded`. One device at a time, on its own report: the cost follows
 * the devices that change, not the size of the rollout.
 */
export class LateOutcomes {
  private readonly rollouts = new Map<string, { r: Rollout; at: number }>()

  constructor(private readonly o: { repo: RolloutRepo; live: LiveStore; clock: Clock }) {}

  /**
   * A rollout, cached: a finished one for good, a running one for a second (its pending devices
   * report often) unless `fresh` (a device it counted silent or failed is rare, and must not be
   * judged on a stale state).
   */
  private async rollout(id: string, fresh: boolean): Promise<Rollout | null> {
    const now = this.o.clock.now()
    const hit = this.rollouts.get(id)
    if (hit !== undefined && (TERMINAL_STATES.has(hit.r.state) || (!fresh && now - hit.at < FRESH_MS))) return hit.r
    const r = await this.o.repo.find(id)
    if (r === null) return null
    if (this.rollouts.size >= CACHE) this.rollouts.clear()
    this.rollouts.set(id, { r, at: now })
    return r
  }

  /** A device reported on `rolloutId`: upgrade its outcome if the rollout is finished and the device got there. */
  async onReported(rolloutId: string, deviceId: string): Promise<void> {
    const p = await this.o.repo.progressOf(rolloutId, deviceId)
    if (p === null || !OPEN.has(p.outcome) || p.reverted) return
    const r = await this.rollout(rolloutId, p.outcome !== 'pending')
    if (r === null || !TERMINAL_STATES.has(r.state)) return
    const [view] = await this.o.live.views([deviceId])
    const d: DeviceObservation = {
      id: deviceId,
      bucket: 0,
      stratum: '',
      inTarget: true,
      progress: p,
      reported: reportedView(view?.reported ?? null),
      online: view?.status?.online ?? null,
      lockedByOther: false,
      currentSha: null,
      desiredBy: null,
      plan: null,
      hardware: view?.reported?.hardware ?? UNKNOWN_CLASS,
    }
    const now = this.o.clock.now()
    if (judge(r, p, d, now).outcome !== 'succeeded') return
    const next = { ...p, outcome: 'succeeded' as const, error: null, outcomeAt: now }
    if (!(await this.o.repo.upgradeProgress(r.id, deviceId, p.outcome, next))) return
    const stored = await this.o.repo.update(
      r.id,
      (cur) => ({ next: { ...cur, counts: moved(cur.counts, p.outcome, 'succeeded') }, events: [] }),
      now,
    )
    this.rollouts.set(r.id, { r: stored, at: now })
  }
}
