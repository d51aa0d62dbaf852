/** Payload layouts of the serial protocol (docs/serial-protocol.md §3), encoded and decoded. */
import { ByteReader, ByteWriter, type SlotState } from './wire.js'

export interface SlotInfo {
  state: SlotState
  size: number
  written: number
  sha256: Buffer
}

/** The SLOTS block: active and confirmed slot (0xFF = none) and each slot's state. */
export interface SlotsBlock {
  active: number
  confirmed: number
  slots: SlotInfo[]
}

export interface HelloInfo {
  version: number
  maxPayload: number
  mcuId: string
  firmware: string
  hardware: string
  flashBytes: number
  ramBytes: number
  slotBytes: number
  slotCount: number
  cpuHz: number
  slots: SlotsBlock
}

export interface McuStats {
  uptimeMs: number
  inferences: number
  errors: number
  lastMicros: number
  avgMicros: number
  maxMicros: number
  energyMilliJ: number
  powerMilliW: number
  temperatureC: number
  ramUsed: number
  ramTotal: number
  resets: number
}

/**
 * The inferences the MCU ran on its own (its sensor loop, not asked over the link) since the previous
 * LOOP_STATS, which clears them: counts, the sum and extremes of their latencies, their energy, and
 * their latency histogram in the protocol's log buckets (`bins[k]` holds `counts[k]`).
 */
export interface LoopStats {
  attempts: number
  errors: number
  sumMicros: number
  minMicros: number
  maxMicros: number
  energyMicroJ: number
  bins: number[]
  counts: number[]
}

export function encodeLoopStats(s: LoopStats): Buffer {
  const w = new ByteWriter()
    .u32(s.attempts)
    .u32(s.errors)
    .u32(s.sumMicros % 2 ** 32)
    .u32(Math.floor(s.sumMicros / 2 ** 32))
    .u32(s.minMicros)
    .u32(s.maxMicros)
    .u32(s.energyMicroJ)
    .u16(s.bins.length)
  s.bins.forEach((b, k) => w.u16(b).u32(s.counts[k] ?? 0))
  return w.build()
}

export function decodeLoopStats(payload: Buffer): LoopStats {
  const r = new ByteReader(payload)
  const head = { attempts: r.u32(), errors: r.u32(), sumMicros: r.u32() + r.u32() * 2 ** 32 }
  const rest = { minMicros: r.u32(), maxMicros: r.u32(), energyMicroJ: r.u32() }
  const n = r.u16()
  const bins: number[] = []
  const counts: number[] = []
  for (let k = 0; k < n; k++) {
    bins.push(r.u16())
    counts.push(r.u32())
  }
  return { ...head, ...rest, bins, counts }
}

export interface InferReply {
  cycles: number
  micros: number
  energyMicroJ: number
  output: Float32Array
}

export function writeSlots(w: ByteWriter, s: SlotsBlock): ByteWriter {
  w.u8(s.active).u8(s.confirmed)
  for (const slot of s.slots) w.u8(slot.state).u32(slot.size).u32(slot.written).bytes(slot.sha256)
  return w
}

export function readSlots(r: ByteReader, count: number): SlotsBlock {
  const active = r.u8()
  const confirmed = r.u8()
  const slots: SlotInfo[] = []
  for (let i = 0; i < count; i++) {
    slots.push({ state: r.u8() as SlotState, size: r.u32(), written: r.u32(), sha256: Buffer.from(r.bytes(32)) })
  }
  return { active, confirmed, slots }
}

export function encodeHello(h: HelloInfo): Buffer {
  const w = new ByteWriter().u8(h.version).u16(h.maxPayload).str8(h.mcuId).str8(h.firmware).str8(h.hardware)
  w.u32(h.flashBytes).u32(h.ramBytes).u32(h.slotBytes).u8(h.slotCount).u32(h.cpuHz)
  return writeSlots(w, h.slots).build()
}

export function decodeHello(payload: Buffer): HelloInfo {
  const r = new ByteReader(payload)
  const head = { version: r.u8(), maxPayload: r.u16(), mcuId: r.str8(), firmware: r.str8(), hardware: r.str8() }
  const sizes = { flashBytes: r.u32(), ramBytes: r.u32(), slotBytes: r.u32(), slotCount: r.u8(), cpuHz: r.u32() }
  return { ...head, ...sizes, slots: readSlots(r, sizes.slotCount) }
}

export function encodeStats(s: McuStats): Buffer {
  return new ByteWriter()
    .u32(s.uptimeMs)
    .u32(s.inferences)
    .u32(s.errors)
    .u32(s.lastMicros)
    .u32(s.avgMicros)
    .u32(s.maxMicros)
    .u32(s.energyMilliJ)
    .u32(s.powerMilliW)
    .i16(s.temperatureC * 100)
    .u32(s.ramUsed)
    .u32(s.ramTotal)
    .u32(s.resets)
    .build()
}

export function decodeStats(payload: Buffer): McuStats {
  const r = new ByteReader(payload)
  return {
    uptimeMs: r.u32(),
    inferences: r.u32(),
    errors: r.u32(),
    lastMicros: r.u32(),
    avgMicros: r.u32(),
    maxMicros: r.u32(),
    energyMilliJ: r.u32(),
    powerMilliW: r.u32(),
    temperatureC: r.i16() / 100,
    ramUsed: r.u32(),
    ramTotal: r.u32(),
    resets: r.u32(),
  }
}

export function encodeInferReply(x: InferReply): Buffer {
  return new ByteWriter().u32(x.cycles).u32(x.micros).u32(x.energyMicroJ).f32s(x.output).build()
}

export function decodeInferReply(payload: Buffer): InferReply {
  const r = new ByteReader(payload)
  return { cycles: r.u32(), micros: r.u32(), energyMicroJ: r.u32(), output: r.f32s() }
}
