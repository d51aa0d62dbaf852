/** A sustained rate and a burst; a rate of 0 turns the limit off. */
export interface Rate {
  perSec: number
  burst: number
}

interface Bucket {
  tokens: number
  at: number
}

const MAX_KEYS = 100_000

/**
 * Token buckets by key (an address, a token): each request takes one; a bucket refills at
 * `perSec` up to `burst`. Full buckets are forgotten, so memory follows the active keys.
 */
export class RateLimiter {
  readonly #rate: Rate
  readonly #buckets = new Map<string, Bucket>()

  constructor(rate: Rate) {
    this.#rate = rate
  }

  /** Take one request for `key` at `now`: 0 when allowed, else the milliseconds until one would be. */
  take(key: string, now: number): number {
    const { perSec, burst } = this.#rate
    if (perSec <= 0) return 0
    const b = this.#buckets.get(key)
    const tokens = b === undefined ? burst : Math.min(burst, b.tokens + ((now - b.at) * perSec) / 1000)
    if (tokens < 1) {
      this.#buckets.set(key, { tokens, at: now })
      return Math.ceil(((1 - tokens) * 1000) / perSec)
    }
    if (b === undefined && this.#buckets.size >= MAX_KEYS) this.#prune(now)
    this.#buckets.set(key, { tokens: tokens - 1, at: now })
    return 0
  }

  #prune(now: number): void {
    const { perSec, burst } = this.#rate
    for (const [k, b] of this.#buckets) if (b.tokens + ((now - b.at) * perSec) / 1000 >= burst) this.#buckets.delete(k)
  }
}
