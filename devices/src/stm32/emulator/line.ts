/**
 * One direction of an emulated UART line: paced at the line rate (8N1, 10 bits a byte) and with
 * injected faults — bit errors, dropped bytes — and an unplugged state that loses everything.
 */
export interface LineFaults {
  /** Probability that a byte has one bit flipped. @defaultValue 0 */
  bitErrorRate?: number
  /** Probability that a byte is lost. @defaultValue 0 */
  dropRate?: number
  /** PRNG seed, so a faulty run can be replayed. @defaultValue 1 */
  seed?: number
}

export interface LineOptions extends LineFaults {
  /** Pace delivery at this line rate; `undefined` delivers at once. */
  baudRate?: number
}

/** mulberry32: small, seedable, good enough for fault injection. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface LineCounters {
  bytes: number
  flipped: number
  dropped: number
}

export class EmulatedLine {
  unplugged = false
  faults: Required<Omit<LineFaults, 'seed'>>
  readonly counters: LineCounters = { bytes: 0, flipped: 0, dropped: 0 }
  private readonly random: () => number
  private busyUntil = 0
  private timers = new Set<NodeJS.Timeout>()
  private closed = false

  constructor(
    private readonly deliver: (data: Buffer) => void,
    private readonly options: LineOptions = {},
  ) {
    this.random = prng(options.seed ?? 1)
    this.faults = { bitErrorRate: options.bitErrorRate ?? 0, dropRate: options.dropRate ?? 0 }
  }

  /** Put bytes on the line. */
  send(data: Uint8Array): void {
    if (this.unplugged) return
    this.counters.bytes += data.length
    const out = this.corrupt(data)
    const baud = this.options.baudRate
    if (baud === undefined) {
      if (out.length > 0) this.deliver(out)
      return
    }
    const now = performance.now()
    const start = Math.max(now, this.busyUntil)
    const due = (this.busyUntil = start + (data.length * 10_000) / baud)
    this.schedule(due, () => {
      if (!this.unplugged && out.length > 0) this.deliver(out)
    })
  }

  /**
   * Run `fn` at `due` (performance.now() ms) with sub-millisecond accuracy: a timer for the bulk,
   * then `setImmediate` turns — Node timers alone round every hop up to whole milliseconds, which
   * would charge the protocol for the emulator's own latency.
   */
  private schedule(due: number, fn: () => void): void {
    const spin = (): void => {
      if (this.closed) return
      if (performance.now() >= due) fn()
      else setImmediate(spin)
    }
    const wait = due - performance.now()
    if (wait < 2) {
      setImmediate(spin)
      return
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      spin()
    }, wait - 1.5)
    this.timers.add(timer)
  }

  private corrupt(data: Uint8Array): Buffer {
    const { bitErrorRate, dropRate } = this.faults
    if (bitErrorRate === 0 && dropRate === 0) return Buffer.from(data)
    const out: number[] = []
    for (const byte of data) {
      if (this.random() < dropRate) {
        this.counters.dropped++
        continue
      }
      if (this.random() < bitErrorRate) {
        this.counters.flipped++
        out.push(byte ^ (1 << Math.floor(this.random() * 8)))
        continue
      }
      out.push(byte)
    }
    return Buffer.from(out)
  }

  /** Drop whatever is still in flight. */
  close(): void {
    this.closed = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }
}
