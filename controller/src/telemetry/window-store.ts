import type { Redis } from 'ioredis'
import type { TelemetryBody } from '@liquid-edge/protocol'
import { QUANTILE_MASS, histIndex } from './histogram.js'
import { mergeStats, statsFromHash, type ShareSums, type WindowStats } from './window-stats.js'

// HSET field to the larger of its value and ARGV[2] (temperature, memory maxima).
const HMAX_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (not cur) or tonumber(cur) < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 0`

// Per-device sequence tracking for one batch: ARGV = device, min seq, max seq, windows in batch.
// Returns the windows lost; a sequence that goes back (an agent restart) starts over.
const SEQ_LUA = `
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
local mn, mx, n = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local gap = 0
if last >= 0 and mn > last + 1 then gap = mn - last - 1 end
local inside = (mx - mn + 1) - n
if inside > 0 then gap = gap + inside end
if mx > last or mn < last then redis.call('HSET', KEYS[1], ARGV[1], mx) end
if gap > 0 then redis.call('HINCRBY', KEYS[2], ARGV[1], gap) end
return gap`

type WindowPipeline = ReturnType<Redis['pipeline']> & {
  llnHmax(key: string, field: string, value: string): WindowPipeline
  llnSeq(seqKey: string, gapsKey: string, device: string, min: number, max: number, n: number): WindowPipeline
}

type WindowRedis = Redis & {
  llnHmax(key: string, field: string, value: string): Promise<number>
  llnSeq(seqKey: string, gapsKey: string, device: string, min: number, max: number, n: number): Promise<number>
}

/** One telemetry message ready to fold: receive time, device, cohort (model version). */
export interface FoldItem {
  deviceId: string
  at: number
  body: TelemetryBody
}

/** A device's share of one bucket (for the evidence: which devices tipped a rule). */
export interface DeviceShare extends ShareSums {
  deviceId: string
}

/** Share fields in the per-device hash (`<device>|<field>`). */
const SHARE_FIELDS = {
  n: 'windows',
  i: 'inferences',
  e: 'errors',
  l: 'latencySum',
  m: 'latencyInferences',
  p: 'powerSum',
  q: 'powerWindows',
} as const satisfies Record<string, keyof ShareSums>
type ShareField = keyof typeof SHARE_FIELDS

function emptyShare(deviceId: string): DeviceShare {
  return { deviceId, windows: 0, inferences: 0, errors: 0, latencySum: 0, latencyInferences: 0, powerSum: 0, powerWindows: 0 }
}

export function cohortOf(model: { name: string; version: string } | null): string {
  return model === null ? 'none' : `${model.name}@${model.version}`
}

/** The Redis layout of telemetry windows, under `${prefix}:tm:`. */
export function windowKeys(prefix: string) {
  const p = `${prefix}:tm`
  return Object.freeze({
    /** hash of one cohort's bucket: w i e ls li ps pn tx mx g h0…h99 */
    cohort: (cohort: string, bucket: number) => `${p}:c:{${cohort}}:${bucket}`,
    /** HyperLogLog of the devices that reported into a cohort's bucket */
    cohortDevices: (cohort: string, bucket: number) => `${p}:c:{${cohort}}:${bucket}:dev`,
    /** hash of per-device shares in a cohort's bucket: `<device>|n|i|e|l|m|p|q` */
    shares: (cohort: string, bucket: number) => `${p}:s:{${cohort}}:${bucket}`,
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

interface CohortAcc {
  h: Map<string, number>
  tx: number | null
  mx: number | null
  devices: Set<string>
  shares: Map<string, number>
}

function accumulate(acc: CohortAcc, it: FoldItem): void {
  const b = it.body
  const add = (f: string, v: number): void => {
    if (v !== 0) acc.h.set(f, (acc.h.get(f) ?? 0) + v)
  }
  const share = (f: string, v: number): void => {
    if (v !== 0) acc.shares.set(`${it.deviceId}|${f}`, (acc.shares.get(`${it.deviceId}|${f}`) ?? 0) + v)
  }
  add('w', 1)
  add('i', b.inferences)
  add('e', b.errors)
  share('i', b.inferences)
  share('e', b.errors)
  share('n', 1)
  if (b.latencyMs !== null && b.inferences > 0) {
    add('ls', b.latencyMs.p50 * b.inferences)
    add('li', b.inferences)
    share('l', b.latencyMs.p50 * b.inferences)
    share('m', b.inferences)
    for (const [q, mass] of QUANTILE_MASS) add(`h${histIndex(b.latencyMs[q])}`, mass * b.inferences)
  }
  if (b.energy !== null) {
    add('ps', b.energy.avgMw)
    add('pn', 1)
    share('p', b.energy.avgMw)
    share('q', 1)
  }
  if (b.temperatureC !== null) acc.tx = Math.max(acc.tx ?? -Infinity, b.temperatureC)
  if (b.memory?.totalBytes != null && b.memory.totalBytes > 0) {
    acc.mx = Math.max(acc.mx ?? 0, Math.round((b.memory.usedBytes / b.memory.totalBytes) * 1e6))
  }
  acc.devices.add(it.deviceId)
}

/**
 * Telemetry windows in Redis: time buckets per cohort (model version) with per-device shares.
 * `fold` writes a whole batch in one pipeline (one round trip), pre-aggregated in memory so each
 * Redis field is touched once per batch; every bucket key expires after the retention.
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
    if (!('llnHmax' in redis)) {
      redis.defineCommand('llnHmax', { numberOfKeys: 1, lua: HMAX_LUA })
      redis.defineCommand('llnSeq', { numberOfKeys: 2, lua: SEQ_LUA })
    }
    this.redis = redis as WindowRedis
  }

  bucketOf(at: number): number {
    return Math.floor(at / this.bucketMs) * this.bucketMs
  }

  /** Fold a batch; resolves with the number of lost windows (sequence gaps) it revealed. */
  async fold(items: readonly FoldItem[]): Promise<number> {
    if (items.length === 0) return 0
    const byKey = new Map<string, { cohort: string; bucket: number; acc: CohortAcc }>()
    const seqs = new Map<string, { min: number; max: number; n: number }>()
    for (const it of items) {
      const cohort = cohortOf(it.body.model)
      const bucket = this.bucketOf(it.at)
      const k = `${cohort}\n${bucket}`
      let e = byKey.get(k)
      if (e === undefined) {
        e = { cohort, bucket, acc: { h: new Map(), tx: null, mx: null, devices: new Set(), shares: new Map() } }
        byKey.set(k, e)
      }
      accumulate(e.acc, it)
      const s = seqs.get(it.deviceId)
      if (s === undefined) seqs.set(it.deviceId, { min: it.body.seq, max: it.body.seq, n: 1 })
      else seqs.set(it.deviceId, { min: Math.min(s.min, it.body.seq), max: Math.max(s.max, it.body.seq), n: s.n + 1 })
    }
    const ttl = this.retentionMs
    const m = this.redis.pipeline() as WindowPipeline
    for (const { cohort, bucket, acc } of byKey.values()) {
      const key = this.keys.cohort(cohort, bucket)
      for (const [f, v] of acc.h) {
        if (Number.isInteger(v)) m.hincrby(key, f, v)
        else m.hincrbyfloat(key, f, v)
      }
      if (acc.tx !== null) m.llnHmax(key, 'tx', String(acc.tx))
      if (acc.mx !== null) m.llnHmax(key, 'mx', String(acc.mx))
      m.pexpire(key, ttl)
      const dk = this.keys.cohortDevices(cohort, bucket)
      m.pfadd(dk, ...acc.devices).pexpire(dk, ttl)
      const sk = this.keys.shares(cohort, bucket)
      for (const [f, v] of acc.shares) m.hincrbyfloat(sk, f, v)
      m.pexpire(sk, ttl)
      m.sadd(this.keys.cohorts, cohort)
    }
    const seqStart = m.length
    for (const [dev, s] of seqs) m.llnSeq(this.keys.seq, this.keys.gaps, dev, s.min, s.max, s.n)
    const res = (await m.exec()) ?? []
    let gaps = 0
    for (let i = seqStart; i < res.length; i++) gaps += Number(res[i]?.[1] ?? 0)
    return gaps
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

  /** Stats of each bucket of `cohort` from `fromBucket` to `toBucket` (inclusive), in order. */
  async series(cohort: string, fromBucket: number, toBucket: number): Promise<{ bucket: number; stats: WindowStats }[]> {
    const buckets: number[] = []
    for (let b = fromBucket; b <= toBucket; b += this.bucketMs) buckets.push(b)
    if (buckets.length === 0) return []
    const m = this.redis.pipeline()
    for (const b of buckets) m.hgetall(this.keys.cohort(cohort, b)).pfcount(this.keys.cohortDevices(cohort, b))
    const res = (await m.exec()) ?? []
    return buckets.map((bucket, i) => {
      const h = (res[2 * i]?.[1] ?? {}) as Record<string, string>
      const devices = Number(res[2 * i + 1]?.[1] ?? 0)
      return { bucket, stats: statsFromHash(h, devices) }
    })
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
    const codes = Object.keys(SHARE_FIELDS) as ShareField[]
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
        codes.forEach((c, j) => (d[SHARE_FIELDS[c]] = Number(raw[j] ?? 0)))
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
