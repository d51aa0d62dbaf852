import type { Redis } from 'ioredis'
import * as z from 'zod'
import { PHASES, PhaseSchema, SlotSchema, type ReportedBody, type StatusBody } from '@liquid-edge/protocol'
import type { Keys } from '../keys.js'

export const LiveStatusSchema = z.object({ online: z.boolean(), session: z.number(), ts: z.number() })
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

/** What the controller knows about a device right now. */
export interface LiveView {
  status: LiveStatus | null
  reported: LiveReported | null
  lastTelemetryAt: number | null
  /** The length of the device's last telemetry window: how often it reports. */
  telemetryWindowMs: number | null
}

// A stale offline (a late Last Will of an older session) never overrides a newer online; within
// one session, offline is final.
const STATUS_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local c = cjson.decode(cur)
  local s = tonumber(ARGV[3])
  if s < c.session or (s == c.session and ARGV[4] == '1' and c.online == false) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`
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

function safeJson<T>(schema: z.ZodType<T>, raw: string | null | undefined): T | null {
  if (raw === null || raw === undefined) return null
  try {
    const r = schema.safeParse(JSON.parse(raw))
    return r.success ? r.data : null
  } catch {
    return null
  }
}

/** Live device state folded from retained `status` and `reported` messages and telemetry. */
export class LiveStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  /** @returns true when applied (false: stale). */
  async applyStatus(id: string, body: StatusBody, ts: number): Promise<boolean> {
    const v: LiveStatus = { online: body.online, session: body.session, ts }
    const r = await this.redis.eval(STATUS_LUA, 1, this.keys.status, id, JSON.stringify(v), body.session, body.online ? '1' : '0')
    return r === 1
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

  /** A telemetry window arrived at `ts`; `windowMs` is the device's reporting cadence. */
  async applyTelemetry(id: string, ts: number, windowMs: number): Promise<void> {
    await this.redis.hset(this.keys.telemetry, id, `${ts}|${windowMs}`)
  }

  /** Live views of `ids`, in order. */
  async views(ids: readonly string[]): Promise<LiveView[]> {
    if (ids.length === 0) return []
    const [status, reported, telemetry] = await Promise.all([
      this.redis.hmget(this.keys.status, ...ids),
      this.redis.hmget(this.keys.reported, ...ids),
      this.redis.hmget(this.keys.telemetry, ...ids),
    ])
    return ids.map((_, i) => {
      const [at, windowMs] = (telemetry[i] ?? '').split('|').map((x) => (x === '' ? NaN : Number(x)))
      return {
        status: safeJson(LiveStatusSchema, status[i]),
        reported: safeJson(LiveReportedSchema, reported[i]),
        lastTelemetryAt: at !== undefined && Number.isFinite(at) ? at : null,
        telemetryWindowMs: windowMs !== undefined && Number.isFinite(windowMs) ? windowMs : null,
      }
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
