import type { DecodeError, Decoded, ProtocolMessage } from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'
import { CheckFailure } from './report.js'

/** One message of the device under test (or of its gateway), as it arrived. */
export interface Seen {
  /** Position in the tap: later messages have higher numbers. */
  n: number
  at: number
  message: ProtocolMessage
}

/** A message on the device's topics that failed to decode (a broker that does not validate lets them through). */
export interface Refused {
  at: number
  topic: string
  error: DecodeError
}

/** What the tap needs of the controller's MQTT session. */
export interface TapSource {
  on(event: 'message', listener: (m: Decoded) => void): unknown
  off(event: 'message', listener: (m: Decoded) => void): unknown
  on(event: 'invalid', listener: (e: DecodeError, topic: string) => void): unknown
  off(event: 'invalid', listener: (e: DecodeError, topic: string) => void): unknown
}

type Waiter = { match: (s: Seen) => boolean; resolve: (s: Seen) => void }

/**
 * Everything the device under test publishes during a run, in arrival order, and waits on it:
 * the kit judges what it saw, never what it was told.
 */
export class DeviceTap {
  readonly seen: Seen[] = []
  readonly refused: Refused[] = []
  #waiters = new Set<Waiter>()
  readonly #ids: Set<string>
  readonly #onMessage = (m: Decoded): void => {
    const message = m.message
    if (!('deviceId' in message) || !this.#ids.has(message.deviceId)) return
    const s: Seen = { n: this.seen.length, at: this.clock.now(), message }
    this.seen.push(s)
    for (const w of [...this.#waiters]) if (w.match(s)) w.resolve(s)
  }
  readonly #onInvalid = (error: DecodeError, topic: string): void => {
    if ([...this.#ids].some((id) => topic.includes(`/devices/${id}/`))) this.refused.push({ at: this.clock.now(), topic, error })
  }

  constructor(
    private readonly source: TapSource,
    private readonly clock: Clock,
    ids: readonly string[],
  ) {
    this.#ids = new Set(ids)
    source.on('message', this.#onMessage)
    source.on('invalid', this.#onInvalid)
  }

  /** Also record messages of `id` (the device's gateway, once known). */
  watch(id: string): void {
    this.#ids.add(id)
  }

  /** The position the next message will have: pass it as `from` to wait only for what comes after now. */
  get mark(): number {
    return this.seen.length
  }

  /** The first message from position `from` on that `match` accepts, or a check failure naming `what` at the deadline. */
  async next(match: (s: Seen) => boolean, o: { from: number; timeoutMs: number; what: string }): Promise<Seen> {
    const found = this.seen.slice(o.from).find(match)
    if (found !== undefined) return found
    return new Promise<Seen>((resolve, reject) => {
      const waiter: Waiter = {
        match: (s) => s.n >= o.from && match(s),
        resolve: (s) => {
          clearTimeout(timer)
          this.#waiters.delete(waiter)
          resolve(s)
        },
      }
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter)
        reject(new CheckFailure(`no ${o.what} within ${Math.round(o.timeoutMs / 1000)} s`))
      }, o.timeoutMs)
      this.#waiters.add(waiter)
    })
  }

  /** True when nothing `match` accepts arrives within `windowMs` from now (a bounded observation, for "must not happen"). */
  async quiet(match: (s: Seen) => boolean, windowMs: number): Promise<Seen | null> {
    return this.next(match, { from: this.mark, timeoutMs: windowMs, what: '' }).then(
      (s) => s,
      () => null,
    )
  }

  /** Messages of one type from position `from` on. */
  of<T extends ProtocolMessage['type']>(type: T, from = 0, deviceId?: string): Extract<ProtocolMessage, { type: T }>[] {
    return this.seen
      .slice(from)
      .map((s) => s.message)
      .filter(
        (m): m is Extract<ProtocolMessage, { type: T }> =>
          m.type === type && (deviceId === undefined || ('deviceId' in m && m.deviceId === deviceId)),
      )
  }

  close(): void {
    this.source.off('message', this.#onMessage)
    this.source.off('invalid', this.#onInvalid)
    this.#waiters.clear()
  }
}
