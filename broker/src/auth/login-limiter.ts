import type { Clock } from '../clock.js'

export interface LoginLimiterOptions {
  /** Wait after the first failed login of a client id from one address; it doubles with each further failure. */
  backoffBaseMs: number
  /** Longest wait between two attempts of one client id from one address. */
  backoffMaxMs: number
  /** Failed logins from one address (any client id) within `addressWindowMs` before it is refused; 0: no limit. */
  maxFailuresPerAddress: number
  addressWindowMs: number
  /** Addresses the per-address limit does not apply to (a site's NAT, the controller's host); each use is counted. */
  exemptAddresses: readonly string[]
}

/**
 * What the limiter says before a login's secret is checked: go ahead; go ahead although the
 * address is over its limit (it is exempt; counted); or refuse, with the reason.
 */
export type LoginVerdict = 'allowed' | 'exempt' | 'backoff' | 'address_limited'

interface Backoff {
  failures: number
  /** No attempt of this client id from this address before this time. */
  until: number
  last: number
}

interface Window {
  count: number
  start: number
}

const MAX_ENTRIES = 100_000

/** `::ffff:10.0.0.1` and `10.0.0.1` are one IPv4 address. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address
}

/**
 * Failed logins slow down whoever fails, not whoever they pretend to be. Device ids are not
 * secret, so a lockout of an id would let anyone keep a device offline: failures are keyed on
 * (client id, address), and each one doubles that pair's wait, from `backoffBaseMs` to
 * `backoffMaxMs`. The same id from an address that has not failed is never held back. On top,
 * an address failing for many ids (one guess each, under every pair's back-off) is refused for
 * the rest of its window, unless an operator listed it as exempt. While refused, the broker
 * answers without running scrypt, so guessing costs the attacker, not the broker.
 */
export class LoginLimiter {
  readonly #o: LoginLimiterOptions
  readonly #clock: Clock
  readonly #pairs = new Map<string, Backoff>()
  readonly #addresses = new Map<string, Window>()
  readonly #exempt: ReadonlySet<string>

  constructor(options: LoginLimiterOptions, clock: Clock) {
    this.#o = options
    this.#clock = clock
    this.#exempt = new Set(options.exemptAddresses.map(normalizeAddress))
  }

  /** Whether a login of `id` from `address` may be checked now. */
  verdict(id: string, address: string): LoginVerdict {
    const now = this.#clock.now()
    const pair = this.#pairs.get(pairKey(id, address))
    if (pair !== undefined && now < pair.until) return 'backoff'
    const a = normalizeAddress(address)
    if (this.#o.maxFailuresPerAddress === 0 || this.#count(a, now) < this.#o.maxFailuresPerAddress) return 'allowed'
    return this.#exempt.has(a) ? 'exempt' : 'address_limited'
  }

  /** Milliseconds `id` must wait before its next attempt from `address` (0 when it may try now). */
  waitMs(id: string, address: string): number {
    const pair = this.#pairs.get(pairKey(id, address))
    return pair === undefined ? 0 : Math.max(0, pair.until - this.#clock.now())
  }

  recordFailure(id: string, address: string): void {
    const now = this.#clock.now()
    if (this.#pairs.size >= MAX_ENTRIES) this.#prune(now)
    const key = pairKey(id, address)
    const prev = this.#pairs.get(key)
    // A pair that has kept quiet for a full maximum wait starts again from the base.
    const failures = prev === undefined || now - prev.last > 2 * this.#o.backoffMaxMs ? 1 : prev.failures + 1
    const wait = Math.min(this.#o.backoffMaxMs, this.#o.backoffBaseMs * 2 ** Math.min(failures - 1, 30))
    this.#pairs.set(key, { failures, until: now + wait, last: now })
    const a = normalizeAddress(address)
    const w = this.#addresses.get(a)
    if (w === undefined || now - w.start >= this.#o.addressWindowMs) this.#addresses.set(a, { count: 1, start: now })
    else w.count++
  }

  /** A good login clears the pair's back-off (not the address's count: one good device must not unblock a scanner). */
  recordSuccess(id: string, address: string): void {
    this.#pairs.delete(pairKey(id, address))
  }

  #count(address: string, now: number): number {
    const w = this.#addresses.get(address)
    if (w === undefined) return 0
    if (now - w.start >= this.#o.addressWindowMs) {
      this.#addresses.delete(address)
      return 0
    }
    return w.count
  }

  #prune(now: number): void {
    for (const [k, p] of this.#pairs) if (now - p.last > 2 * this.#o.backoffMaxMs) this.#pairs.delete(k)
    for (const [k, w] of this.#addresses) if (now - w.start >= this.#o.addressWindowMs) this.#addresses.delete(k)
  }
}

function pairKey(id: string, address: string): string {
  return `${id}\u0000${normalizeAddress(address)}`
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
