/** The emulated MCU's memory: what survives a reset (flash) and what does not (RAM). */
import { NO_SLOT, SlotState } from '../protocol/wire.js'
import type { LoopStats, SlotsBlock } from '../protocol/messages.js'
import type { ModelRunner } from './inference.js'

export interface FlashSlot {
  state: SlotState
  size: number
  written: number
  sha256: Buffer
  data: Buffer
}

/** Flash: the slots with their transfer trailers, and the boot record (active, confirmed). */
export interface Flash {
  slots: FlashSlot[]
  active: number
  confirmed: number
  resets: number
}

/** The MCU's own inferences since the previous LOOP_STATS: what that op reports and clears. */
export interface LoopAcc extends Omit<LoopStats, 'bins' | 'counts'> {
  /** Histogram bucket (the protocol's log buckets) → inferences. */
  buckets: Map<number, number>
}

export function emptyLoop(): LoopAcc {
  return { attempts: 0, errors: 0, sumMicros: 0, minMicros: 0, maxMicros: 0, energyMicroJ: 0, buckets: new Map() }
}

/** RAM: lost at every reset. */
export interface Ram {
  bootedAt: number
  /** Slot of the transfer opened by XFER_BEGIN since boot. */
  transferSlot: number
  lastSeq: number
  lastResponse: Buffer | null
  busySeq: number
  inferences: number
  errors: number
  lastMicros: number
  sumMicros: number
  maxMicros: number
  energyMicroJ: number
  /** Energy since the previous STATS, µJ, and when that was. */
  windowEnergyMicroJ: number
  windowStart: number
  runners: Map<number, ModelRunner>
  loop: LoopAcc
}

export function emptyFlash(slotCount: number): Flash {
  return {
    slots: Array.from({ length: slotCount }, () => emptySlot()),
    active: NO_SLOT,
    confirmed: NO_SLOT,
    resets: 0,
  }
}

export function emptySlot(): FlashSlot {
  return { state: SlotState.EMPTY, size: 0, written: 0, sha256: Buffer.alloc(32), data: Buffer.alloc(0) }
}

export function freshRam(now: number): Ram {
  return {
    bootedAt: now,
    transferSlot: NO_SLOT,
    lastSeq: -1,
    lastResponse: null,
    busySeq: -1,
    inferences: 0,
    errors: 0,
    lastMicros: 0,
    sumMicros: 0,
    maxMicros: 0,
    energyMicroJ: 0,
    windowEnergyMicroJ: 0,
    windowStart: now,
    runners: new Map(),
    loop: emptyLoop(),
  }
}

export function slotsBlock(flash: Flash): SlotsBlock {
  return {
    active: flash.active,
    confirmed: flash.confirmed,
    slots: flash.slots.map((s) => ({ state: s.state, size: s.size, written: s.written, sha256: s.sha256 })),
  }
}

/** Forget (and release) the loaded runner of `slot`. */
export function dropRunner(ram: Ram, slot: number): void {
  const runner = ram.runners.get(slot)
  ram.runners.delete(slot)
  if (runner !== undefined) void runner.close().catch(() => undefined)
}
