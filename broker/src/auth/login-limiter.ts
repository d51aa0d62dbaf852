import type { Clock } from '../clock.js'

export interface LoginLimiterOptions {
  /** Failed logins per client id within the window before that id is refused outright. */
  maxFailuresPerId: number
  /** Failed logins per remote address within the window before that address is refused outright. */
  maxFailuresPerAddress: number
  windowMs: number
}

interface Window {
  count: number
  start: number
}

/**
 * Fixed-window counters of failed logins per client id and per address. While a key is over its
 * limit the broker refuses it without running scrypt, so guessing costs the attacker, not the broker.
 */
export class LoginLimiter {
  readonly #options: LoginLimiterOptions
  readonly #clock: Clock
  readonly #byId = new Map<string, Window>()
  readonly #byAddress = new Map<string, Window>()

  constructor(options: LoginLimiterOptions, clock: Clock) {
    this.#options = options
    this.#clock = clock
  }

  /** True when either the id or the address has used up its failures for the current window. */
  isBlocked(id: string, address: string): boolean {
    const now = this.#clock.now()
    return (
      this.#count(this.#byId, id, now) >= this.#options.maxFailuresPerId ||
      this.#count(this.#byAddress, address, now) >= this.#options.maxFailuresPerAddress
    )
  }

  recordFailure(id: string, address: string): void {
    const now = this.#clock.now()
    this.#bump(this.#byId, id, now)
    this.#bump(this.#byAddress, address, now)
  }

  /** A good login clears the id's failures (not the address's: one good device must not unblock a scanner). */
  recordSuccess(id: string): void {
    this.#byId.delete(id)
  }

  #count(map: Map<string, Window>, key: string, now: number): number {
    const w = map.get(key)
    if (w === undefined) return 0
    if (now - w.start >= this.#options.windowMs) {
      map.delete(key)
      return 0
    }
    return w.count
  }

  #bump(map: Map<string, Window>, key: string, now: number): void {
    if (map.size > 100_000) this.#prune(map, now)
    const w = map.get(key)
    if (w === undefined || now - w.start >= this.#options.windowMs) map.set(key, { count: 1, start: now })
    else w.count++
  }

  #prune(map: Map<string, Window>, now: number): void {
    for (const [k, w] of map) if (now - w.start >= this.#options.windowMs) map.delete(k)
  }
}

/**
 * Duplicate client id policy: the newest connection takes over [MQTT-3.1.4-2], but an id taken
 * over `limit` times within `windowMs` is refused (CONNACK 2) until the window passes. Two
 * devices sharing a credential then stop flapping: the one connected stays, the other is told no.
 */
export class TakeoverGuard {
  readonly #limit: number
  readonly #windowMs: number
  readonly #clock: Clock
  readonly #takeovers = new Map<string, number[]>()

  constructor(limit: number, windowMs: number, clock: Clock) {
    this.#limit = limit
    this.#windowMs = windowMs
    this.#clock = clock
  }

  /** Record a takeover of `id`; false when the id is flapping and the new connection must be refused. */
  allow(id: string): boolean {
    const now = this.#clock.now()
    const recent = (this.#takeovers.get(id) ?? []).filter((t) => now - t < this.#windowMs)
    if (recent.length >= this.#limit) {
      this.#takeovers.set(id, recent)
      return false
    }
    recent.push(now)
    this.#takeovers.set(id, recent)
    return true
  }
}
