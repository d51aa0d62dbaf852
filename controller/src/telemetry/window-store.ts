import type { Redis } from 'ioredis'
import { accumulate, emptyBucketAcc, FLOAT_SHARES, SHARE_CODES, type BucketAcc, type FoldItem, type ShareCode } from './fold.js'
import { FLOAT_FIELDS, mergeStats, statsFromHash, type ShareSums, type WindowStats } from './window-stats.js'

export type { FoldItem }

// One slot of a batch (a cohort's bucket for one hardware class) in one call, whatever the number of
// messages folded into it. KEYS: bucket hash, its devices' HyperLogLog, the cohort bucket's shares
// hash, the cohort's class set, the set of cohorts. ARGV: retention ms, hardware class, cohort, then
// six sections, each a count and that many field/value pairs — bucket HINCRBY, bucket HINCRBYFLOAT,
// bucket minimum, bucket maximum, share HINCRBY, share HINCRBYFLOAT — then a count and the devices.
const FOLD_LUA = `
local i = 4
local function section(key, apply)
  local n = tonumber(ARGV[i])
  for k = i + 1, i + 2 * n, 2 do apply(key, ARGV[k], ARGV[k + 1]) end
  i = i + 1 + 2 * n
end
local function int(key, f, v) redis.call('HINCRBY', key, f, v) end
local function float(key, f, v) redis.call('HINCRBYFLOAT', key, f, v) end
local function lower(key, f, v)
  local cur = redis.call('HGET', key, f)
  if (not cur) or tonumber(cur) > tonumber(v) then redis.call('HSET', key, f, v) end
end
local function higher(key, f, v)
  local cur = redis.call('HGET', key, f)
  if (not cur) or tonumber(cur) < tonumber(v) then redis.call('HSET', key, f, v) end
end
section(KEYS[1], int)
section(KEYS[1], float)
section(KEYS[1], lower)
section(KEYS[1], higher)
section(KEYS[3], int)
section(KEYS[3], float)
local n = tonumber(ARGV[i])
for k = i + 1, i + n, 500 do redis.call('PFADD', KEYS[2], unpack(ARGV, k, math.min(k + 499, i + n))) end
local ttl = ARGV[1]
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', KEYS[3], ttl)
redis.call('SADD', KEYS[4], ARGV[2])
redis.call('SADD', KEYS[5], ARGV[3])
return 0`

// Sequence tracking for every device of a batch: ARGV = device, min seq, max seq, windows in
// batch, … Returns the windows lost; a sequence that goes back (an agent restart) starts over.
const SEQ_LUA = `
local total = 0
for i = 1, #ARGV, 4 do
  local last = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '-1')
  local mn, mx, n = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])
  local gap = 0
  if last >= 0 and mn > last + 1 then gap = mn - last - 1 end
  local inside = (mx - mn + 1) - n
  if inside > 0 then gap = gap + inside end
  if mx > last or mn < last then redis.call('HSET', KEYS[1], ARGV[i], mx) end
  if gap > 0 then
    redis.call('HINCRBY', KEYS[2], ARGV[i], gap)
    total = total + gap
  end
end
return total`

// ioredis flattens an array argument: a batch's thousands of arguments travel as one array, not a spread.
type Args = (string | number)[]
type WindowPipeline = ReturnType<Redis['pipeline']> & {
  llnFold(args: Args): WindowPipeline
  llnSeqs(args: Args): WindowPipeline
}

type WindowRedis = Redis & {
  llnFold(args: Args): Promise<number>
  llnSeqs(args: Args): Promise<number>
}

/** Append the field/value pairs of `m` (those `pick` keeps), preceded by their count: one section of FOLD_LUA's ARGV. */
function section(out: Args, m: ReadonlyMap<string, number>, pick: (field: string) => boolean = () => true): void {
  const at = out.push(0) - 1
  for (const [f, v] of m) if (pick(f)) out.push(f, v)
  out[at] = (out.length - at - 1) / 2
}

const isFloatShare = (f: string): boolean => FLOAT_SHARES.has(f.slice(f.lastIndexOf('|') + 1) as ShareCode)

/** A device's share of one bucket (for the evidence: which devices tipped a rule). */
export interface DeviceShare extends ShareSums {
  deviceId: string
}

const CODES = Object.keys(SHARE_CODES) as ShareCode[]

function emptyShare(deviceId: string): DeviceShare {
  const d = { deviceId } as DeviceShare
  for (const c of CODES) d[SHARE_CODES[c]] = 0
  return d
}

/** The hardware class of windows that do not name one (older agents). */
export const UNKNOWN_CLASS = 'unknown'

export function cohortOf(model: { name: string; version: string } | null): string {
  return model === null ? 'none' : `${model.name}@${model.version}`
}

/** The Redis layout of telemetry windows, under `${prefix}:tm:`. */
export function windowKeys(prefix: string) {
  const p = `${prefix}:tm`
  return Object.freeze({
    /** hash of one cohort's bucket for one hardware class: fields of `FIELD`, histogram `b<index>` */
    cohort: (cohort: string, hardware: string, bucket: number) => `${p}:c:{${cohort}}:${hardware}:${bucket}`,
    /** HyperLogLog of the devices of one hardware class that reported into a cohort's bucket */
    cohortDevices: (cohort: string, hardware: string, bucket: number) => `${p}:c:{${cohort}}:${hardware}:${bucket}:dev`,
    /** hash of per-device shares in a cohort's bucket: `<device>|<code>` (see `SHARE_CODES`) */
    shares: (cohort: string, bucket: number) => `${p}:s:{${cohort}}:${bucket}`,
    /** set of the hardware classes that reported on a cohort */
    classes: (cohort: string) => `${p}:hw:{${cohort}}`,
    /** hash device → last telemetry seq */
    seq: `${p}:seq`,
    /** hash device → windows lost (sequence gaps) */
    gaps: `${p}:gaps`,
    /** hash device → JSON of its last crash-like event */
    crashes: `${p}:crashes`,
    /** hash device → when its last offline status was received */
    offline: `${p}:offline`,
    /** set of cohorts seen (for metrics) */
    cohorts: `${p}:cohorts`,
  })
}
export type WindowKeys = ReturnType<typeof windowKeys>

/** One bucket of a cohort: its start and its stats. */
export interface BucketStats {
  bucket: number
  stats: WindowStats
}

interface Slot {
  cohort: string
  hardware: string
  bucket: number
  acc: BucketAcc
}

/**
 * Telemetry windows in Redis: time buckets per cohort (model version) and hardware class, with
 * per-device shares. `fold` writes a whole batch in one pipeline (one round trip), pre-aggregated
 * in memory so each Redis field is touched once per batch; every bucket key expires after the
 * retention. Folding is addition (see the protocol's statistics module).
 */
export class WindowStore {
  readonly keys: WindowKeys
  private readonly redis: WindowRedis

  constructor(
    redis: Redis,
    prefix: string,
    readonly bucketMs: number,
    readonly retentionMs: number,
  ) {
    this.keys = windowKeys(prefix)
    if (!('llnFold' in redis)) {
      redis.defineCommand('llnFold', { numberOfKeys: 5, lua: FOLD_LUA })
      redis.defineCommand('llnSeqs', { numberOfKeys: 2, lua: SEQ_LUA })
    }
    this.redis = redis as WindowRedis
  }

  bucketOf(at: number): number {
    return Math.floor(at / this.bucketMs) * this.bucketMs
  }

  /** Pre-aggregate a batch in memory: one accumulator per cohort, class and bucket, and the sequence span per device. */
  private aggregate(items: readonly FoldItem[]) {
    const slots = new Map<string, Slot>()
    const seqs = new Map<string, { min: number; max: number; n: number }>()
    for (const it of items) {
      const cohort = cohortOf(it.body.model)
      const hardware = it.body.hardware ?? UNKNOWN_CLASS
      const bucket = this.bucketOf(it.at)
      const k = `${cohort}\n${hardware}\n${bucket}`
      let slot = slots.get(k)
      if (slot === undefined) slots.set(k, (slot = { cohort, hardware, bucket, acc: emptyBucketAcc() }))
      accumulate(slot.acc, it)
      const s = seqs.get(it.deviceId)
      if (s === undefined) seqs.set(it.deviceId, { min: it.body.seq, max: it.body.seq, n: 1 })
      else seqs.set(it.deviceId, { min: Math.min(s.min, it.body.seq), max: Math.max(s.max, it.body.seq), n: s.n + 1 })
    }
    return { slots: slots.values(), seqs }
  }

  /**
   * Fold a batch; resolves with the number of lost windows (sequence gaps) it revealed. One
   * pipeline of one script call per slot (cohort, class, bucket) and one for every device's
   * sequence: the commands grow with the slots a batch touches, not with its messages.
   */
  async fold(items: readonly FoldItem[]): Promise<number> {
    if (items.length === 0) return 0
    const { slots, seqs } = this.aggregate(items)
    const m = this.redis.pipeline() as WindowPipeline
    for (const { cohort, hardware, bucket, acc } of slots) {
      const k = this.keys
      const args: Args = [k.cohort(cohort, hardware, bucket), k.cohortDevices(cohort, hardware, bucket), k.shares(cohort, bucket)]
      args.push(k.classes(cohort), k.cohorts, this.retentionMs, hardware, cohort)
      section(args, acc.add, (f) => !FLOAT_FIELDS.has(f))
      section(args, acc.add, (f) => FLOAT_FIELDS.has(f))
      section(args, acc.min)
      section(args, acc.max)
      section(args, acc.shares, (f) => !isFloatShare(f))
      section(args, acc.shares, isFloatShare)
      args.push(acc.devices.size)
      for (const d of acc.devices) args.push(d)
      m.llnFold(args)
    }
    const spans: Args = [this.keys.seq, this.keys.gaps]
    for (const [dev, s] of seqs) spans.push(dev, s.min, s.max, s.n)
    m.llnSeqs(spans)
    const res = (await m.exec()) ?? []
    const failed = res.find(([err]) => err !== null)
    if (failed !== undefined) throw new Error(`Redis refused part of a telemetry batch: ${String(failed[0])}`, { cause: failed[0] })
    return Number(res[res.length - 1]?.[1] ?? 0)
  }

  /** Record a crash-like device event (crashed, watchdog reset, model load failure). */
  async recordCrash(deviceId: string, at: number, event: string, model: string | null): Promise<void> {
    await this.redis.hset(this.keys.crashes, deviceId, JSON.stringify({ at, event, model }))
  }

  async recordStatus(deviceId: string, online: boolean, at: number): Promise<void> {
    if (online) await this.redis.hdel(this.keys.offline, deviceId)
    else await this.redis.hset(this.keys.offline, deviceId, String(at))
  }

  /** When each device's last offline status was received (null: online or unknown). */
  async offlineSince(ids: readonly string[]): Promise<(number | null)[]> {
    if (ids.length === 0) return []
    return (await this.redis.hmget(this.keys.offline, ...ids)).map((v) => (v === null ? null : Number(v)))
  }

  async crashes(ids: readonly string[]): Promise<(number | null)[]> {
    if (ids.length === 0) return []
    const raws = await this.redis.hmget(this.keys.crashes, ...ids)
    return raws.map((raw) => {
      if (raw === null) return null
      try {
        const at = (JSON.parse(raw) as { at?: unknown }).at
        return typeof at === 'number' ? at : null
      } catch {
        return null
      }
    })
  }

  /** The hardware classes that reported on a cohort, sorted. */
  async classes(cohort: string): Promise<string[]> {
    return (await this.redis.smembers(this.keys.classes(cohort))).sort()
  }

  /**
   * Stats of each bucket of `cohort` from `fromBucket` to `toBucket` (inclusive), in order, per
   * hardware class (all the classes that reported on it, unless `classes` names some).
   */
  async seriesByClass(
    cohort: string,
    fromBucket: number,
    toBucket: number,
    classes?: readonly string[],
  ): Promise<Map<string, BucketStats[]>> {
    const hw = classes ?? (await this.classes(cohort))
    const buckets: number[] = []
    for (let b = fromBucket; b <= toBucket; b += this.bucketMs) buckets.push(b)
    const out = new Map<string, BucketStats[]>()
    if (buckets.length === 0 || hw.length === 0) return out
    const m = this.redis.pipeline()
    for (const c of hw) for (const b of buckets) m.hgetall(this.keys.cohort(cohort, c, b)).pfcount(this.keys.cohortDevices(cohort, c, b))
    const res = (await m.exec()) ?? []
    hw.forEach((c, ci) => {
      out.set(
        c,
        buckets.map((bucket, bi) => {
          const i = 2 * (ci * buckets.length + bi)
          const h = (res[i]?.[1] ?? {}) as Record<string, string>
          return { bucket, stats: statsFromHash(h, Number(res[i + 1]?.[1] ?? 0)) }
        }),
      )
    })
    return out
  }

  /** Stats of each bucket of `cohort`, every hardware class merged (devices of the classes add up). */
  async series(cohort: string, fromBucket: number, toBucket: number): Promise<BucketStats[]> {
    const byClass = [...(await this.seriesByClass(cohort, fromBucket, toBucket)).values()]
    const out: BucketStats[] = []
    for (let b = fromBucket, i = 0; b <= toBucket; b += this.bucketMs, i++) {
      const parts = byClass.map((list) => list[i]?.stats).filter((x): x is WindowStats => x !== undefined)
      const stats = mergeStats(parts)
      stats.devices = parts.reduce((sum, p) => sum + p.devices, 0)
      out.push({ bucket: b, stats })
    }
    return out
  }

  /** Merged stats of the complete buckets in [end − spanMs, end). */
  async window(cohort: string, end: number, spanMs: number): Promise<WindowStats> {
    const last = this.bucketOf(end - 1)
    const first = this.bucketOf(end - spanMs)
    return mergeStats((await this.series(cohort, first, last)).map((x) => x.stats))
  }

  /**
   * The summed shares of `deviceIds` in each bucket of a cohort from `fromBucket` to `toBucket`:
   * what those devices alone sent. Reads only their fields (HMGET), so the cost follows the
   * devices asked for, not everyone on the model version.
   */
  async sharesOf(cohort: string, fromBucket: number, toBucket: number, deviceIds: readonly string[]): Promise<Map<number, DeviceShare[]>> {
    const buckets: number[] = []
    for (let b = fromBucket; b <= toBucket; b += this.bucketMs) buckets.push(b)
    const out = new Map<number, DeviceShare[]>()
    if (buckets.length === 0 || deviceIds.length === 0) return out
    const codes = CODES
    const fields = deviceIds.flatMap((id) => codes.map((c) => `${id}|${c}`))
    const m = this.redis.pipeline()
    for (const b of buckets) m.hmget(this.keys.shares(cohort, b), ...fields)
    const res = (await m.exec()) ?? []
    buckets.forEach((bucket, i) => {
      const values = (res[i]?.[1] ?? []) as (string | null)[]
      const shares: DeviceShare[] = []
      deviceIds.forEach((id, k) => {
        const d = emptyShare(id)
        const raw = codes.map((_, j) => values[k * codes.length + j] ?? null)
        if (raw.every((v) => v === null)) return
        codes.forEach((c, j) => (d[SHARE_CODES[c]] = Number(raw[j] ?? 0)))
        shares.push(d)
      })
      out.set(bucket, shares)
    })
    return out
  }

  async cohorts(): Promise<string[]> {
    return this.redis.smembers(this.keys.cohorts)
  }

  async gapsTotal(): Promise<number> {
    const all = await this.redis.hvals(this.keys.gaps)
    return all.reduce((a, b) => a + Number(b), 0)
  }
}
