import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { releaseLease, takeLease } from './lease.js'

export interface DutyOptions {
  redis: Redis
  /** The lease's Redis key. */
  key: string
  /** Which duty (logs and metrics). */
  name: string
  /** This controller instance. */
  owner: string
  /** How long the lease lasts unrenewed: a dead holder's duty is taken over within it. */
  ttlMs: number
  logger: Logger
  /** Called when this instance takes the duty or loses it. */
  onChange?: (held: boolean) => void
}

/**
 * A duty that one controller replica does at a time (folding MQTT telemetry: every replica
 * receives every message, and folding is addition). The holder renews a Redis lease three times
 * per `ttlMs`; when it dies, another replica takes the lease at its next renewal after the lease
 * expired — within `ttlMs` plus a third of it. A replica that cannot renew (Redis unreachable, or
 * another holds it) stops at once.
 */
export class Duty {
  private timer: NodeJS.Timeout | null = null
  private closed = false
  private renewing: Promise<void> = Promise.resolve()
  #held = false

  constructor(private readonly o: DutyOptions) {}

  /** Whether this instance holds the duty now. */
  get held(): boolean {
    return this.#held
  }

  /** Try to take the duty now, then keep trying (or renewing) in the background. */
  async start(): Promise<void> {
    await this.renew()
    this.timer = setInterval(
      () => {
        this.renewing = this.renew()
      },
      Math.max(50, Math.floor(this.o.ttlMs / 3)),
    )
  }

  private isClosed(): boolean {
    return this.closed
  }

  private async renew(): Promise<void> {
    if (this.closed) return
    let held: boolean
    try {
      held = await takeLease(this.o.redis, this.o.key, this.o.owner, this.o.ttlMs)
    } catch (err) {
      this.o.logger.warn({ err, duty: this.o.name }, 'duty lease not renewed')
      held = false
    }
    // Closed while the lease was being renewed: close() gives it back.
    if (this.isClosed() || held === this.#held) return
    this.#held = held
    this.o.logger.info({ duty: this.o.name, owner: this.o.owner }, held ? 'duty taken' : 'duty lost')
    this.o.onChange?.(held)
  }

  /** Stop and give the duty back, so another replica takes it at once. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.timer !== null) clearInterval(this.timer)
    await this.renewing
    if (this.#held) {
      this.#held = false
      this.o.onChange?.(false)
    }
    // Also a lease taken by a renewal that raced this close: only ours is deleted.
    await releaseLease(this.o.redis, this.o.key, this.o.owner).catch((err: unknown) => {
      this.o.logger.warn({ err, duty: this.o.name }, 'duty lease not released')
    })
  }
}
