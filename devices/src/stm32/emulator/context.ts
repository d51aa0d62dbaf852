import type { Flash, Ram } from './mcu-state.js'
import type { Stm32Profile } from './profile.js'
import type { InferenceBackend } from './inference.js'

/** What an op handler returns: the response and how long the MCU was busy (for timing and power). */
export interface HandlerResult {
  status: number
  payload?: Buffer
  /** Busy time of the op, µs (delays the response in realtime mode, counts as active power). */
  busyMicros?: number
  /** Power while busy, mW. @defaultValue the profile's active power */
  busyMw?: number
  /**
   * Work that continues after the response (flash programming of a buffered chunk: the firmware
   * double-buffers); the next request waits for it, µs.
   */
  backgroundMicros?: number
  /** Run after the response is sent (RESET). */
  after?: () => void
}

export interface McuContext {
  readonly profile: Stm32Profile
  readonly flash: Flash
  readonly ram: Ram
  readonly backend: InferenceBackend
  readonly mcuId: string
  now(): number
  log(level: number, text: string): void
  reset(reason: number): void
  /** Fault hook: called after each programmed chunk with the slot's written count. */
  afterChunk(written: number): void
}

export type Handler = (ctx: McuContext, payload: Buffer) => Promise<HandlerResult> | HandlerResult
