import type { Logger } from 'pino'
import type { StatusBody } from '@liquid-edge/protocol'
import type { Metrics } from '../api/metrics.js'
import type { Clock } from '../clock.js'
import type { LiveStore, StatusOutcome } from './live.js'

interface Held {
  body: StatusBody
  ts: number
  seenAt: number
}

/** How long a held status waits for the device's reported state. */
const HOLD_MS = 10 * 60_000
const MAX_HELD = 10_000

export interface StatusTrustOptions {
  live: LiveStore
  metrics: Metrics
  logger: Logger
  clock: Clock
}

/**
 * Statuses are claims anyone with access to a device's topic can make (on an open third-party
 * broker, anyone). A status whose session goes backwards — the contract's sign of a device that
 * lost its counter, or of a forgery — is held, not applied, until the device's `reported` state,
 * which the contract has it publish right after its online status, arrives after it and is stamped
 * no earlier than it. A forged one, with no device connecting behind it, never is; a status
 * applied meanwhile supersedes it. Held statuses live in this controller's memory: after a restart
 * the retained status arrives again and is held again.
 */
export class StatusTrust {
  readonly #o: StatusTrustOptions
  readonly #held = new Map<string, Held>()

  constructor(options: StatusTrustOptions) {
    this.#o = options
  }

  /** Fold a status in, holding a session regression. */
  async status(deviceId: string, body: StatusBody, ts: number): Promise<StatusOutcome> {
    const o = this.#o
    const seenAt = o.clock.now()
    const outcome = await o.live.applyStatus(deviceId, body, ts, seenAt)
    if (outcome === 'stale') {
      o.metrics.statusStale.inc()
      o.logger.debug({ deviceId, session: body.session, online: body.online }, 'stale status dropped')
    } else if (outcome !== 'held') {
      this.#held.delete(deviceId)
    } else {
      if (this.#held.size >= MAX_HELD) this.#expire(seenAt)
      this.#held.set(deviceId, { body, ts, seenAt })
      o.metrics.statusHeld.inc()
      o.logger.warn({ deviceId, session: body.session }, 'status with a lower session held until the device reports its state')
    }
    return outcome
  }

  /**
   * The device reported its state, stamped `ts`: a status held for it and stamped no later is now
   * believed; it is returned when applied. A status stamped after the report (a clock set forward
   * by whoever forged it) stays held.
   */
  async reported(deviceId: string, ts: number): Promise<StatusBody | null> {
    const held = this.#held.get(deviceId)
    if (held === undefined || ts < held.ts) return null
    this.#held.delete(deviceId)
    const o = this.#o
    if (o.clock.now() - held.seenAt > HOLD_MS) return null
    const outcome = await o.live.applyStatus(deviceId, held.body, held.ts, held.seenAt, true)
    if (outcome !== 'regressed') return null
    o.metrics.sessionRegressions.inc()
    o.logger.warn(
      { deviceId, session: held.body.session },
      'device came online with a lower session number: it lost its session counter (the contract says it must persist); accepted',
    )
    return held.body
  }

  #expire(now: number): void {
    for (const [id, h] of this.#held) if (now - h.seenAt > HOLD_MS) this.#held.delete(id)
    if (this.#held.size >= MAX_HELD) this.#held.clear()
  }
}
