import type { Redis } from 'ioredis'
import { FleetError, type FleetEventBody } from '@liquid-edge/protocol'
import { parseDesiredRecord, type DesiredRecord, type NewDesiredRecord } from '../desired/desired-states.js'
import type { Keys } from '../keys.js'
import { releaseLease, takeLease } from '../lease.js'
import { safeJson } from '../safe-json.js'
import {
  DeviceProgressSchema,
  PlanEntrySchema,
  RolloutSchema,
  TERMINAL_STATES,
  type DeviceProgress,
  type PlanEntry,
  type Rollout,
} from './types.js'

// Compare-and-set of a rollout on its revision, with its audit events in the same transaction.
const CAS_LUA = `
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
if tonumber(cjson.decode(cur).revision) ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[4] == '1' then redis.call('SREM', KEYS[2], ARGV[3]) end
for i = 5, #ARGV do redis.call('XADD', KEYS[3], 'MAXLEN', '~', '10000', '*', 'event', ARGV[i]) end
return 1`

// Issue a generation once per device and rollout: an existing record is returned unchanged.
// Generations come from one counter per device and never repeat (at least reported + 1).
const DISPATCH_LUA = `
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then return {0, existing} end
local owner = redis.call('HGET', KEYS[3], ARGV[1])
if owner and owner ~= ARGV[2] and redis.call('SISMEMBER', KEYS[4], owner) == 1 then return {2, owner} end
local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local gen = math.max(cur + 1, tonumber(ARGV[5]))
redis.call('HSET', KEYS[2], ARGV[1], gen)
local p = cjson.decode(ARGV[3])
p.gen = gen
local s = cjson.encode(p)
redis.call('HSET', KEYS[1], ARGV[1], s)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
local d = cjson.decode(ARGV[4])
d.gen = gen
redis.call('HSET', KEYS[5], ARGV[1], cjson.encode(d))
return {1, s}`

const NEXT_GEN_LUA = `
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local gen = math.max(cur + 1, tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], ARGV[1], gen)
local d = cjson.decode(ARGV[3])
d.gen = gen
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(d))
return gen`

// Replace one device's progress only while its outcome is still the one the caller judged.
const UPGRADE_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or cjson.decode(cur).outcome ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`

const RELEASE_LOCKS_LUA = `
local all = redis.call('HGETALL', KEYS[1])
local n = 0
for i = 1, #all, 2 do
  if all[i + 1] == ARGV[1] then redis.call('HDEL', KEYS[1], all[i]); n = n + 1 end
end
return n`

export type { DesiredRecord }

export type DispatchResult = { status: 'created' | 'existing'; progress: DeviceProgress } | { status: 'locked'; owner: string }

/** Rollouts, their per-device progress, generations, locks and leases in Redis. */
export class RolloutRepo {
  constructor(
    private readonly redis: Redis,
    readonly keys: Keys,
  ) {}

  async create(r: Rollout, lockIds: readonly string[]): Promise<void> {
    const m = this.redis
      .multi()
      .set(this.keys.rollout(r.id), JSON.stringify(r), 'NX')
      .zadd(this.keys.rollouts, r.createdAt, r.id)
      .sadd(this.keys.activeRollouts, r.id)
    for (let i = 0; i < lockIds.length; i += 1000) {
      const chunk = lockIds.slice(i, i + 1000)
      if (chunk.length > 0) m.hset(this.keys.locks, Object.fromEntries(chunk.map((id) => [id, r.id])))
    }
    await m.exec()
  }

  async find(id: string): Promise<Rollout | null> {
    const raw = await this.redis.get(this.keys.rollout(id))
    return raw === null ? null : RolloutSchema.parse(JSON.parse(raw))
  }

  /** @throws {FleetError} `ROLLOUT_NOT_FOUND` */
  async get(id: string): Promise<Rollout> {
    const r = await this.find(id)
    if (r === null) throw new FleetError('ROLLOUT_NOT_FOUND', `no rollout '${id}'`)
    return r
  }

  async list(limit = 100): Promise<Rollout[]> {
    const ids = await this.redis.zrevrange(this.keys.rollouts, 0, limit - 1)
    if (ids.length === 0) return []
    const raws = await this.redis.mget(...ids.map((id) => this.keys.rollout(id)))
    return raws.filter((x): x is string => x !== null).map((raw) => RolloutSchema.parse(JSON.parse(raw)))
  }

  async activeIds(): Promise<string[]> {
    return this.redis.smembers(this.keys.activeRollouts)
  }

  /** Store `next` only if the stored revision is still `next.revision - 1`; audit events ride along. */
  async cas(next: Rollout, events: readonly FleetEventBody[] = []): Promise<boolean> {
    const done = TERMINAL_STATES.has(next.state) && next.finalized
    const res = await this.redis.eval(
      CAS_LUA,
      3,
      this.keys.rollout(next.id),
      this.keys.activeRollouts,
      this.keys.audit,
      next.revision - 1,
      JSON.stringify(next),
      next.id,
      done ? '1' : '0',
      ...events.map((e) => JSON.stringify(e)),
    )
    return res === 1
  }

  /** Append events to the audit stream (those not tied to a rollout's own transition). */
  async audit(events: readonly FleetEventBody[]): Promise<void> {
    for (const e of events) await this.redis.xadd(this.keys.audit, 'MAXLEN', '~', '10000', '*', 'event', JSON.stringify(e))
  }

  /** Read-modify-write with retries on concurrent change. */
  async update(id: string, fn: (r: Rollout) => { next: Rollout; events: FleetEventBody[] }, now: number): Promise<Rollout> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const cur = await this.get(id)
      const { next, events } = fn(cur)
      const stored = { ...next, revision: cur.revision + 1, updatedAt: now }
      if (await this.cas(stored, events)) return stored
    }
    throw new FleetError('ROLLOUT_LEASE_LOST', `rollout '${id}' kept changing; try again`, { retryable: true })
  }

  async progress(id: string): Promise<Map<string, DeviceProgress>> {
    const all = await this.redis.hgetall(this.keys.rolloutDevices(id))
    const out = new Map<string, DeviceProgress>()
    for (const [dev, raw] of Object.entries(all)) {
      const p = safeJson(DeviceProgressSchema, raw)
      if (p !== null) out.set(dev, p)
    }
    return out
  }

  async setProgress(id: string, entries: readonly [string, DeviceProgress][]): Promise<void> {
    for (let i = 0; i < entries.length; i += 1000) {
      const chunk = entries.slice(i, i + 1000)
      if (chunk.length > 0)
        await this.redis.hset(this.keys.rolloutDevices(id), Object.fromEntries(chunk.map(([d, p]) => [d, JSON.stringify(p)])))
    }
  }

  /** One device's progress in a rollout, or null. */
  async progressOf(id: string, deviceId: string): Promise<DeviceProgress | null> {
    return safeJson(DeviceProgressSchema, await this.redis.hget(this.keys.rolloutDevices(id), deviceId))
  }

  /** Store `next` for a device only if its stored outcome is still `was` (no double counting). */
  async upgradeProgress(id: string, deviceId: string, was: DeviceProgress['outcome'], next: DeviceProgress): Promise<boolean> {
    return (await this.redis.eval(UPGRADE_LUA, 1, this.keys.rolloutDevices(id), deviceId, was, JSON.stringify(next))) === 1
  }

  /** Record progress only when none exists (skips, commands). */
  async addProgress(id: string, deviceId: string, p: DeviceProgress): Promise<void> {
    await this.redis.hsetnx(this.keys.rolloutDevices(id), deviceId, JSON.stringify(p))
  }

  async dispatch(
    rolloutId: string,
    deviceId: string,
    p: DeviceProgress,
    desired: NewDesiredRecord,
    minGen: number,
  ): Promise<DispatchResult> {
    const k = this.keys
    const res = (await this.redis.eval(
      DISPATCH_LUA,
      5,
      k.rolloutDevices(rolloutId),
      k.generations,
      k.locks,
      k.activeRollouts,
      k.desired,
      deviceId,
      rolloutId,
      JSON.stringify(p),
      JSON.stringify(desired),
      minGen,
    )) as [number, string]
    if (res[0] === 2) return { status: 'locked', owner: res[1] }
    return { status: res[0] === 1 ? 'created' : 'existing', progress: DeviceProgressSchema.parse(JSON.parse(res[1])) }
  }

  /** A fresh generation for a desired state outside a rollout's own dispatch (abort reverts). */
  async nextGeneration(deviceId: string, desired: NewDesiredRecord, minGen: number): Promise<number> {
    return Number(
      await this.redis.eval(NEXT_GEN_LUA, 2, this.keys.generations, this.keys.desired, deviceId, minGen, JSON.stringify(desired)),
    )
  }

  async desired(ids: readonly string[]): Promise<(DesiredRecord | null)[]> {
    if (ids.length === 0) return []
    return (await this.redis.hmget(this.keys.desired, ...ids)).map(parseDesiredRecord)
  }

  async locks(ids: readonly string[]): Promise<(string | null)[]> {
    if (ids.length === 0) return []
    return this.redis.hmget(this.keys.locks, ...ids)
  }

  async setLocks(rolloutId: string, ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 1000) {
      const chunk = ids.slice(i, i + 1000)
      if (chunk.length > 0) await this.redis.hset(this.keys.locks, Object.fromEntries(chunk.map((id) => [id, rolloutId])))
    }
  }

  async releaseLocks(rolloutId: string): Promise<number> {
    return Number(await this.redis.eval(RELEASE_LOCKS_LUA, 1, this.keys.locks, rolloutId))
  }

  async plan(id: string): Promise<Map<string, PlanEntry>> {
    const all = await this.redis.hgetall(this.keys.rolloutPlan(id))
    return new Map(Object.entries(all).map(([d, raw]) => [d, PlanEntrySchema.parse(JSON.parse(raw))]))
  }

  async setPlan(id: string, plan: ReadonlyMap<string, PlanEntry>): Promise<void> {
    if (plan.size > 0)
      await this.redis.hset(this.keys.rolloutPlan(id), Object.fromEntries([...plan].map(([d, e]) => [d, JSON.stringify(e)])))
  }

  /** Take or renew the lease of a rollout for `owner`. */
  async lease(id: string, owner: string, ttlMs: number): Promise<boolean> {
    return takeLease(this.redis, this.keys.lease(id), owner, ttlMs)
  }

  async releaseLease(id: string, owner: string): Promise<void> {
    await releaseLease(this.redis, this.keys.lease(id), owner)
  }

  async leaseHolder(id: string): Promise<string | null> {
    return this.redis.get(this.keys.lease(id))
  }
}
