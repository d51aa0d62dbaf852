import type { Redis } from 'ioredis'
import * as z from 'zod'
import { PHASES, PhaseSchema, SlotSchema, type ReportedBody, type StatusBody } from '@liquid-edge/protocol'
import type { Keys } from '../keys.js'
import { safeJson } from '../safe-json.js'

export const LiveStatusSchema = z.object({
  online: z.boolean(),
  session: z.number(),
  ts: z.number(),
  /** When the current session numbering began: the `ts` of a status accepted with a lower session (0: never). */
  epoch: z.number().default(0),
  /** The gateway that speaks for this device, if any. */
  gateway: z.string().optional(),
  /** When the controller received it (a Last Will's own `ts` is when it was built, at connect). */
  seenAt: z.number().default(0),
})
export type LiveStatus = z.infer<typeof LiveStatusSchema>
export const LiveReportedSchema = z.object({
  generation: z.number(),
  rolloutId: z.string().nullable(),
  phase: PhaseSchema,
  slots: z.array(SlotSchema),
  error: z.string().nullable(),
  hardware: z.string(),
  agentVersion: z.string(),
  ts: z.number(),
})
export type LiveReported = z.infer<typeof LiveReportedSchema>

/**
 * What became of a status message: folded in, dropped as stale, held (a lower session not yet
 * confirmed by the device's reported state: not applied), or accepted as a confirmed session regression.
 */
export type StatusOutcome = 'applied' | 'stale' | 'held' | 'regressed'

/** A device's last telemetry window, as the live view keeps it (one per device, the last one wins). */
export interface LiveTelemetry {
  /** The window's envelope time (device clock). */
  ts: number
  windowMs: number
  /** When this controller received it (its own clock). */
  receivedAt: number
  /** The window's model as `name@version`, or null when none was loaded. */
  model: string | null
  temperatureC: number | null
  memoryUsedBytes: number | null
  memoryTotalBytes: number | null
}

function encodeTelemetry(t: LiveTelemetry): string {
  const f = (v: number | string | null) => (v === null ? '' : String(v))
  return [t.ts, t.windowMs, t.receivedAt, f(t.model), f(t.temperatureC), f(t.memoryUsedBytes), f(t.memoryTotalBytes)].join('|')
}

function decodeTelemetry(raw: string | null | undefined): LiveTelemetry | null {
  if (raw == null) return null
  const parts = raw.split('|')
  const num = (i: number): number | null => {
    const v = parts[i]
    if (v === undefined || v === '') return null
    const n = Number(v)
    return Number.isFinite(n) ? n : null
  }
  const [ts, windowMs, receivedAt] = [num(0), num(1), num(2)]
  if (ts === null || windowMs === null) return null
  const model = parts[3] === undefined || parts[3] === '' ? null : parts[3]
  return { ts, windowMs, receivedAt: receivedAt ?? ts, model, temperatureC: num(4), memoryUsedBytes: num(5), memoryTotalBytes: num(6) }
}

/** What the controller knows about a device right now. */
export interface LiveView {
  status: LiveStatus | null
  reported: LiveReported | null
  lastTelemetryAt: number | null
  /** When this controller received that telemetry (its own clock): a sign of life to weigh statuses against. */
  lastHeardAt: number | null
  /** The length of the device's last telemetry window: how often it reports. */
  telemetryWindowMs: number | null
  /** Its last telemetry window's model, temperature and memory (null before any). */
  telemetry: LiveTelemetry | null
}

// Statuses order by session (docs/device-contract.md, session rules). Within one session offline is
// final. A lower session is stale (a late Last Will) unless it is an online status stamped after the
// last one seen: the device lost its counter (a reboot without storage, a re-flash). That one is
// accepted — once the device's reported state has confirmed it (ARGV[6] = '1'; until then it is
// held, 3) — and starts a new numbering (epoch = its ts): statuses of the old numbering, stamped
// before it, are stale from then on. Returns 1 applied, 2 applied as a session regression, 3 held, 0 stale.
const STATUS_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local epoch = 0
local result = 1
if cur then
  local c = cjson.decode(cur)
  local s, ts = tonumber(ARGV[3]), tonumber(ARGV[5])
  epoch = tonumber(c.epoch or 0)
  if s > c.session then
    if ts < epoch then return 0 end
  elseif s == c.session then
    if ARGV[4] == '1' and c.online == false then return 0 end
  else
    if ARGV[4] ~= '1' or ts <= tonumber(c.ts) then return 0 end
    if ARGV[6] ~= '1' then return 3 end
    epoch = ts
    result = 2
  end
end
local v = cjson.decode(ARGV[2])
v.epoch = epoch
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(v))
return result`
// An older generation (a stale retained message, or a late write by another controller) never
// overrides a newer one; within a generation the later message wins (device time, then phase order).
const REPORTED_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local c = cjson.decode(cur)
  local g, ts, rank = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  local cg, cts, crank = tonumber(c.generation), tonumber(c.ts), tonumber(c.rank or 0)
  if cg > g then return 0 end
  if cg == g and (cts > ts or (cts == ts and crank > rank)) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`

/** Live device state folded from retained `status` and `reported` messages and telemetry. */
export class LiveStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /**
   * Fold a status in by the contract's session rule: `applied`, `stale` (dropped: an older session or
   * an online after the offline of the same session), `held` (a lower session, not written unless
   * `confirmed`: the device's reported state has confirmed it), or `regressed` (a confirmed lower
   * session accepted: the device lost its session counter — the caller logs and counts it).
   */
  async applyStatus(id: string, body: StatusBody, ts: number, seenAt = Date.now(), confirmed = false): Promise<StatusOutcome> {
    const v = { online: body.online, session: body.session, ts, seenAt, ...(body.gateway === undefined ? {} : { gateway: body.gateway }) }
    const online = body.online ? '1' : '0'
    const r = await this.redis.eval(STATUS_LUA, 1, this.keys.status, id, JSON.stringify(v), body.session, online, ts, confirmed ? '1' : '0')
    return r === 3 ? 'held' : r === 2 ? 'regressed' : r === 1 ? 'applied' : 'stale'
  }

  async applyReported(id: string, body: ReportedBody, ts: number): Promise<boolean> {
    const v: LiveReported = {
      generation: body.generation,
      rolloutId: body.rolloutId,
      phase: body.phase,
      slots: body.slots,
      error: body.error === null ? null : `${body.error.code}: ${body.error.message}`,
      hardware: body.hardware,
      agentVersion: body.agentVersion,
      ts,
    }
    const rank = PHASES.indexOf(body.phase)
    const r = await this.redis.eval(REPORTED_LUA, 1, this.keys.reported, id, JSON.stringify({ ...v, rank }), body.generation, ts, rank)
    return r === 1
  }

  /** The last telemetry window of each device of an ingest batch: one write for the whole batch. */
  async applyTelemetry(latest: ReadonlyMap<string, LiveTelemetry>): Promise<void> {
    if (latest.size === 0) return
    const args: string[] = []
    for (const [id, t] of latest) args.push(id, encodeTelemetry(t))
    await this.redis.hset(this.keys.telemetry, args)
  }

  /** Live views of `ids`, in order. */
  async views(ids: readonly string[]): Promise<LiveView[]> {
    if (ids.length === 0) return []
    const [status, reported, telemetry] = await Promise.all([
      this.redis.hmget(this.keys.status, ...ids),
      this.redis.hmget(this.keys.reported, ...ids),
      this.redis.hmget(this.keys.telemetry, ...ids),
    ])
    const statuses = await this.behindGateways(status.map((raw) => safeJson(LiveStatusSchema, raw)))
    return ids.map((_, i) => {
      const t = decodeTelemetry(telemetry[i])
      return {
        status: statuses[i] ?? null,
        reported: safeJson(LiveReportedSchema, reported[i]),
        lastTelemetryAt: t?.ts ?? null,
        lastHeardAt: t?.receivedAt ?? null,
        telemetryWindowMs: t?.windowMs ?? null,
        telemetry: t,
      }
    })
  }

  /**
   * A gateway's Last Will covers only the gateway: a child whose gateway went offline after the
   * child's last status arrived is offline too (docs/device-contract.md §2.9).
   */
  private async behindGateways(statuses: (LiveStatus | null)[]): Promise<(LiveStatus | null)[]> {
    const gateways = [...new Set(statuses.flatMap((s) => (s?.online === true && s.gateway !== undefined ? [s.gateway] : [])))]
    if (gateways.length === 0) return statuses
    const raws = await this.redis.hmget(this.keys.status, ...gateways)
    const gw = new Map(gateways.map((id, i) => [id, safeJson(LiveStatusSchema, raws[i])]))
    return statuses.map((s) => {
      const g = s?.gateway === undefined ? undefined : gw.get(s.gateway)
      return s !== null && s.online && g != null && !g.online && g.seenAt >= s.seenAt ? { ...s, online: false } : s
    })
  }
}

/** The slot of a role, if any. */
export function slotOf(
  reported: LiveReported | null,
  ...roles: z.infer<typeof SlotSchema>['role'][]
): z.infer<typeof SlotSchema>['model'] | null {
  return reported?.slots.find((s) => roles.includes(s.role))?.model ?? null
}
