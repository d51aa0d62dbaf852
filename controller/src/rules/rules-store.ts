import type { Redis } from 'ioredis'
import * as z from 'zod'
import type { FleetEventBody } from '@liquid-edge/protocol'
import type { Signal } from '../rollout/observations.js'
import { RuleSetSchema, defaultRules, type RuleSet } from './rule.js'
import type { RuleResult } from './evaluate.js'

// Take a decision once: SET NX its key, and in the same step store the signal for the rollout
// engine (or the hardware class taken out, with why) and append the audit record. Returns 1 when
// this call took the decision.
const DECIDE_LUA = `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2]) end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[4], ARGV[5], ARGV[6])
  redis.call('PEXPIRE', KEYS[4], ARGV[2])
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', '10000', '*', 'event', ARGV[4])
return 1`

const SignalSchema = z.object({ action: z.enum(['pause', 'rollback']), reason: z.string(), handedAt: z.number().int().optional() })

/** The last evaluation of a rollout's rules (for `liquid-lln monitor` and the API). */
export interface RuleStates {
  at: number
  dryRun: boolean
  candidate: string
  baseline: string | null
  results: RuleResult[]
}

const DECISION_TTL_MS = 7 * 24 * 3600_000

/** Rules per rollout, their last states, one-time decisions and the signals the rollout engine reads. */
export class RulesStore {
  private readonly p: string
  /**
   * `initial`: the rules a rollout starts with when none were set for it (the runbook defaults
   * judged against saved monitoring thresholds); null: the defaults as they are.
   */
  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly auditKey: string,
    private readonly scale: number,
    private readonly initial?: (rolloutId: string, defaults: RuleSet) => Promise<RuleSet | null>,
  ) {
    this.p = `${prefix}:rules`
  }

  /** The rollout's rules: those set for it, else (kept from then on) its initial rules, else the runbook defaults. */
  async get(rolloutId: string): Promise<RuleSet> {
    const key = `${this.p}:set:${rolloutId}`
    const raw = await this.redis.get(key)
    if (raw !== null) {
      const r = RuleSetSchema.safeParse(JSON.parse(raw))
      if (r.success) return r.data
    }
    const defaults: RuleSet = { rules: defaultRules(this.scale), dryRun: false }
    if (this.initial === undefined || raw !== null) return defaults
    // Chosen once and kept: thresholds saved later apply to the next rollouts (or by an explicit update).
    const first = (await this.initial(rolloutId, defaults)) ?? defaults
    await this.redis.set(key, JSON.stringify(RuleSetSchema.parse(first)), 'NX')
    return this.get(rolloutId)
  }

  async set(rolloutId: string, set: RuleSet): Promise<void> {
    await this.redis.set(`${this.p}:set:${rolloutId}`, JSON.stringify(RuleSetSchema.parse(set)))
  }

  async saveStates(rolloutId: string, s: RuleStates): Promise<void> {
    await this.redis.set(`${this.p}:state:${rolloutId}`, JSON.stringify(s), 'PX', DECISION_TTL_MS)
  }

  async states(rolloutId: string): Promise<RuleStates | null> {
    const raw = await this.redis.get(`${this.p}:state:${rolloutId}`)
    return raw === null ? null : (JSON.parse(raw) as RuleStates)
  }

  /**
   * Take the decision `what` for a rollout at most once (across replicas and restarts), with its
   * audit record and, when given, the signal for the rollout engine. True when this call took it.
   */
  async decide(rolloutId: string, what: string, event: FleetEventBody, signal: Signal | null): Promise<boolean> {
    const cls = signal?.action === 'revert-class' ? signal : null
    const res = await this.redis.eval(
      DECIDE_LUA,
      4,
      `${this.p}:once:${rolloutId}:${what}`,
      `${this.p}:signal:${rolloutId}`,
      this.auditKey,
      `${this.p}:classes:${rolloutId}`,
      String(Date.now()),
      DECISION_TTL_MS,
      signal === null || cls !== null ? '' : JSON.stringify(signal),
      JSON.stringify(event),
      cls?.hardware ?? '',
      cls?.reason ?? '',
    )
    return res === 1
  }

  /** The hardware classes the rules took out of a rollout: its `revert-class` signals. */
  async classes(rolloutId: string): Promise<Extract<Signal, { action: 'revert-class' }>[]> {
    const all = await this.redis.hgetall(`${this.p}:classes:${rolloutId}`)
    return Object.entries(all).map(([hardware, reason]) => ({ action: 'revert-class', hardware, reason }))
  }

  /** Forget a one-time key (an alert re-arms when its rule is healthy again). */
  async rearm(rolloutId: string, what: string): Promise<void> {
    await this.redis.del(`${this.p}:once:${rolloutId}:${what}`)
  }

  async markFailed(rolloutId: string, ids: readonly string[]): Promise<number> {
    const key = `${this.p}:failed:${rolloutId}`
    const res = await this.redis
      .multi()
      .sadd(key, ...ids)
      .pexpire(key, DECISION_TTL_MS)
      .scard(key)
      .exec()
    return Number(res?.[2]?.[1] ?? 0)
  }

  async failed(rolloutId: string): Promise<string[]> {
    return this.redis.smembers(`${this.p}:failed:${rolloutId}`)
  }

  /**
   * Signals for the rollout engine. A pause is handed to one revision of the rollout: once the
   * rollout has moved past that revision (its tick stored the pause), the signal is spent, so an
   * operator's resume is not undone by the same breach.
   */
  async signals(rolloutId: string, revision: number): Promise<Signal[]> {
    const key = `${this.p}:signal:${rolloutId}`
    const raw = await this.redis.get(key)
    if (raw === null) return []
    const s = SignalSchema.safeParse(JSON.parse(raw))
    if (!s.success) return []
    const { handedAt, ...signal } = s.data
    if (signal.action === 'pause') {
      if (handedAt !== undefined && revision > handedAt) {
        await this.redis.del(key)
        return []
      }
      if (handedAt === undefined) await this.redis.set(key, JSON.stringify({ ...signal, handedAt: revision }), 'KEEPTTL')
    }
    return [signal]
  }
}
