import { FleetError, MEASURE_MAX_RATE_PER_S, type CommandResult } from '@liquid-edge/protocol'
import type { AgentInternals } from '../internals.js'
import type { InferenceResult, SlotName } from '../ports.js'

/** A long measurement sends what it has measured so far this often (a reply part with `final: false`). */
export const PARTIAL_EVERY_MS = 2000

export interface MeasureSessionOptions {
  /** Largest share of the device's time the measurement may be busy (0.01–1). */
  dutyCycle: number
  /** Aborted by a `cancel` command or the command's expiry. */
  signal: AbortSignal
  /** Sends a partial result. */
  send?: (result: CommandResult, final: boolean) => Promise<void>
}

/**
 * One measurement's use of a device. Every sample waits until no application inference is in
 * flight (they keep priority), then rests long enough that the measurement stays within its duty
 * cycle and the protocol's sample-rate cap; a rest is a timer, so the device's event loop — MQTT, its local
 * API, other devices in a simulated fleet — runs between samples. Cancellation and expiry end the
 * measurement at the next sample with `AGENT_CANCELLED`.
 */
export class MeasureSession {
  readonly #ai: AgentInternals
  readonly #o: MeasureSessionOptions
  readonly startedAt: number
  #lastPartialAt: number

  constructor(ai: AgentInternals, options: MeasureSessionOptions) {
    this.#ai = ai
    this.#o = options
    this.startedAt = ai.clock.now()
    this.#lastPartialAt = this.startedAt
  }

  /** Milliseconds since the measurement started. */
  get elapsedMs(): number {
    return this.#ai.clock.now() - this.startedAt
  }

  /** @throws {FleetError} `AGENT_CANCELLED` once the command was cancelled or expired */
  check(): void {
    if (!this.#o.signal.aborted) return
    const why: unknown = this.#o.signal.reason
    throw new FleetError('AGENT_CANCELLED', `the measurement stopped after ${Math.round(this.elapsedMs)} ms: ${String(why)}`, {
      details: { elapsedMs: Math.round(this.elapsedMs), reason: why === 'expired' ? 'expired' : 'cancelled' },
    })
  }

  /** One paced sample on `slot`. @throws {FleetError} `AGENT_CANCELLED`, or the driver's error */
  async probe(input: Float32Array, slot: SlotName): Promise<InferenceResult> {
    this.check()
    await this.#race(this.#ai.whenIdle())
    this.check()
    const t0 = this.#ai.clock.now()
    const result = await this.#ai.probe(input, slot)
    const busyMs = Math.max(this.#ai.clock.now() - t0, result.latencyMs)
    const d = this.#o.dutyCycle
    await this.rest(Math.max((busyMs * (1 - d)) / d, 1000 / MEASURE_MAX_RATE_PER_S - busyMs))
    return result
  }

  /** Wait `ms` (cut short by cancellation), yielding the device to everything else. */
  rest(ms: number): Promise<void> {
    const clock = this.#ai.clock
    let timer: unknown
    const slept = new Promise<void>((resolve) => {
      timer = clock.setTimeout(resolve, Math.max(0, ms))
    })
    return this.#race(slept).finally(() => {
      clock.clearTimeout(timer)
    })
  }

  /** Send `result()` as a partial answer when the last one is older than {@link PARTIAL_EVERY_MS}. */
  async partial(result: () => CommandResult): Promise<void> {
    const now = this.#ai.clock.now()
    if (this.#o.send === undefined || now - this.#lastPartialAt < PARTIAL_EVERY_MS) return
    this.#lastPartialAt = now
    await this.#o.send(result(), false).catch(() => undefined)
  }

  #race(p: Promise<void>): Promise<void> {
    const signal = this.#o.signal
    if (signal.aborted) return Promise.resolve()
    return new Promise<void>((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done)
        resolve()
      }
      signal.addEventListener('abort', done)
      void p.then(done)
    })
  }
}
