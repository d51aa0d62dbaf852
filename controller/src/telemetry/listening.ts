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

/**
 * One replica's side of the clock: it beats while it hears the fleet, and starts a new span after
 * any break. A beat that waits for Redis longer than a beat is a break: while Redis was unreachable
 * no telemetry could be stored (and a broker persisting in that Redis delivered none), so silence
 * from then on is not the devices'. Beats never overlap: one still waiting makes the next a break
 * instead of queueing another write stamped with a time that has passed.
 */
export class Listener {
  /** The last beat said it was listening (false: the next one starts a new span). */
  private heard = false
  private inFlight = false
  /** Breaks so far: one during a beat makes that beat's outcome a break. */
  private breaks = 0

  constructor(
    private readonly clock: ListeningClock,
    private readonly now: () => number,
  ) {}

  /** What was published meanwhile was never heard (a broker reconnect, a write that failed). */
  break(): void {
    this.heard = false
    this.breaks++
  }

  /** One beat: `listening` whether this replica hears the fleet now (its broker session up, its duty held). */
  async beat(listening: boolean): Promise<void> {
    if (this.inFlight) {
      this.break()
      return
    }
    this.inFlight = true
    const breaks = this.breaks
    const started = this.now()
    try {
      if (listening) await this.clock.beat(started, !this.heard)
    } catch (err) {
      this.heard = false
      throw err
    } finally {
      this.inFlight = false
    }
    this.heard = listening && this.breaks === breaks && this.now() - started <= this.clock.beatMs
  }
}
