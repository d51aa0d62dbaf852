/**
 * A token bucket: `ratePerSec` tokens flow in, at most `burst` are kept; each message takes one.
 * Refilled lazily from the clock on every take, so an idle client costs nothing.
 */
export class TokenBucket {
  readonly ratePerSec: number
  readonly burst: number
  #tokens: number
  #last: number

  constructor(ratePerSec: number, burst: number, now: number) {
    this.ratePerSec = ratePerSec
    this.burst = burst
    this.#tokens = burst
    this.#last = now
  }

  /** Take one token; false when the bucket is empty (the message is over the rate). */
  take(now: number): boolean {
    if (now > this.#last) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) * this.ratePerSec) / 1000)
      this.#last = now
    }
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }
}
