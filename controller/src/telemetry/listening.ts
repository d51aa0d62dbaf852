import type { Redis } from 'ioredis'

/**
 * The span in which the fleet's telemetry has been listened to without a break. A device is
 * silent only inside it: telemetry published while no controller listened (a restart, a broker
 * outage, the gap before another replica takes over the ingest) was never received, and a device
 * must not be judged unresponsive for the controller's own deafness.
 */
export interface Listening {
  /** When the current unbroken span began. */
  since: number
  /** When the listener last said it was listening (it says so every beat). */
  at: number
}

// `since` moves only when the listener says its span began anew; `at` on every beat.
const BEAT_LUA = `
if ARGV[2] == '1' or redis.call('HEXISTS', KEYS[1], 'since') == 0 then redis.call('HSET', KEYS[1], 'since', ARGV[1]) end
redis.call('HSET', KEYS[1], 'at', ARGV[1])
return 1`

/** The listening span in Redis, shared by every replica: the listener beats, the rules read. */
export class ListeningClock {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    /** How often the listener beats: silence is measured up to one beat after its last. */
    readonly beatMs: number,
  ) {}

  /** The listener is listening at `now`; `fresh`: its span begins now (a new holder, a reconnect). */
  async beat(now: number, fresh: boolean): Promise<void> {
    await this.redis.eval(BEAT_LUA, 1, this.key, String(now), fresh ? '1' : '0')
  }

  /** The span, or null when no listener has beaten yet. */
  async read(): Promise<Listening | null> {
    const [since, at] = await this.redis.hmget(this.key, 'since', 'at')
    if (since === null || at === null) return null
    const s = Number(since)
    const a = Number(at)
    return Number.isFinite(s) && Number.isFinite(a) ? { since: s, at: a } : null
  }
}

/**
 * Silence as it can be known at `now`: measured up to one beat after the listener's last (it beats
 * every `beatMs` while it listens), and never from before its span began. Without any listener
 * nothing is silent yet.
 */
export function silenceClock(l: Listening | null, now: number, beatMs: number): { now: number; since: number } {
  if (l === null) return { now, since: now }
  return { now: Math.min(now, l.at + beatMs), since: l.since }
}
