import { createHash } from 'node:crypto'

/** Buckets a fleet is hashed into; a percent step takes whole buckets (25% = buckets 0..2499). */
export const BUCKETS = 10_000

/** The bucket of a device for one rollout salt: deterministic and sticky (independent of the fleet). */
export function bucketOf(deviceId: string, salt: string): number {
  const h = createHash('sha256').update(salt).update('\u0000').update(deviceId).digest()
  return h.readUInt32BE(0) % BUCKETS
}

/** True when the device's bucket lies below `percent` of the buckets: monotone in `percent`. */
export function inPercent(bucket: number, percent: number): boolean {
  return bucket < Math.round(percent * (BUCKETS / 100))
}

export interface Member {
  id: string
  bucket: number
  stratum: string
}

function byBucket(a: Member, b: Member): number {
  return a.bucket - b.bucket || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

/**
 * The devices in the first `percent` of a (stratum of a) fleet: every device whose bucket lies
 * below the threshold, topped up in bucket order to ceil(percent × size) so that small fleets
 * get the share they asked for. Ordered by bucket, so a higher percent is a superset.
 */
function percentOf(members: Member[], percent: number): Member[] {
  const sorted = [...members].sort(byBucket)
  const below = sorted.filter((m) => inPercent(m.bucket, percent)).length
  const wanted = Math.ceil((percent / 100) * sorted.length - 1e-9)
  return sorted.slice(0, Math.max(below, Math.min(wanted, sorted.length)))
}

/** A step of a rollout: a share of the target, a count of devices, or named devices. */
export type StepSpec = { percent: number } | { count: number } | { devices: string[] }

/**
 * The cohort of a step: the devices of `step` and of every earlier step (cohorts only grow).
 * With strata (e.g. by `hw`), a percent is taken within each stratum so every class is in early steps.
 */
export function cohortOf(members: Member[], steps: readonly StepSpec[], upTo: number): Set<string> {
  const out = new Set<string>()
  const strata = new Map<string, Member[]>()
  for (const m of members) {
    const group = strata.get(m.stratum)
    if (group === undefined) strata.set(m.stratum, [m])
    else group.push(m)
  }
  const known = new Set(members.map((m) => m.id))
  let sorted: Member[] | undefined
  for (const spec of steps.slice(0, upTo + 1)) {
    if ('devices' in spec) for (const id of spec.devices) if (known.has(id)) out.add(id)
    if ('count' in spec) for (const m of (sorted ??= [...members].sort(byBucket)).slice(0, spec.count)) out.add(m.id)
    if ('percent' in spec) for (const group of strata.values()) for (const m of percentOf(group, spec.percent)) out.add(m.id)
  }
  return out
}
