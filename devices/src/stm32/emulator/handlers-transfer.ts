/** XFER_BEGIN / XFER_CHUNK / XFER_COMMIT / ERASE on the emulated MCU. */
import { createHash } from 'node:crypto'
import { ByteReader, ByteWriter, NO_SLOT, SlotState, Status } from '../protocol/wire.js'
import type { Handler, McuContext } from './context.js'
import { dropRunner, emptySlot } from './mcu-state.js'

const u32 = (v: number): Buffer => new ByteWriter().u32(v).build()

function busySlot(ctx: McuContext, slot: number): boolean {
  return slot === ctx.flash.active || slot === ctx.flash.confirmed
}

export const xferBegin: Handler = (ctx, payload) => {
  const r = new ByteReader(payload)
  const slot = r.u8()
  const size = r.u32()
  const sha256 = Buffer.from(r.bytes(32))
  const target = ctx.flash.slots[slot]
  if (target === undefined) return { status: Status.BAD_REQUEST }
  if (busySlot(ctx, slot)) return { status: Status.SLOT_BUSY }
  if (size === 0 || size > ctx.profile.slotBytes) return { status: Status.TOO_LARGE }
  ctx.ram.transferSlot = slot
  if (target.state === SlotState.RECEIVING && target.size === size && target.sha256.equals(sha256)) {
    ctx.log(1, `transfer into slot ${slot} resumes at ${target.written}/${size}`)
    return { status: Status.OK, payload: u32(target.written) }
  }
  const { sectorBytes, sectorEraseMs } = ctx.profile.timing
  const sectors = Math.ceil(size / sectorBytes)
  dropRunner(ctx.ram, slot)
  ctx.flash.slots[slot] = { state: SlotState.RECEIVING, size, written: 0, sha256, data: Buffer.alloc(size, 0xff) }
  return { status: Status.OK, payload: u32(0), busyMicros: sectors * sectorEraseMs * 1000, busyMw: ctx.profile.power.flashWriteMw }
}

export const xferChunk: Handler = (ctx, payload) => {
  const r = new ByteReader(payload)
  const offset = r.u32()
  const data = r.rest()
  const slot = ctx.flash.slots[ctx.ram.transferSlot]
  if (slot?.state !== SlotState.RECEIVING) return { status: Status.NO_TRANSFER }
  if (offset !== slot.written) return { status: Status.BAD_OFFSET, payload: u32(slot.written) }
  if (offset + data.length > slot.size) return { status: Status.TOO_LARGE }
  data.copy(slot.data, offset)
  slot.written += data.length
  ctx.afterChunk(slot.written)
  return {
    status: Status.OK,
    payload: u32(slot.written),
    backgroundMicros: (data.length / ctx.profile.timing.flashWriteBytesPerMs) * 1000,
    busyMw: ctx.profile.power.flashWriteMw,
  }
}

export const xferCommit: Handler = (ctx) => {
  const slot = ctx.flash.slots[ctx.ram.transferSlot]
  if (slot?.state !== SlotState.RECEIVING) return { status: Status.NO_TRANSFER }
  if (slot.written !== slot.size) return { status: Status.BAD_OFFSET, payload: u32(slot.written) }
  const digest = createHash('sha256').update(slot.data).digest()
  const busyMicros = (slot.size / ctx.profile.timing.hashBytesPerMs) * 1000
  ctx.ram.transferSlot = NO_SLOT
  if (!digest.equals(slot.sha256)) {
    slot.state = SlotState.BAD
    ctx.log(3, `slot image hash mismatch: got ${digest.toString('hex').slice(0, 12)}…`)
    return { status: Status.HASH_MISMATCH, payload: digest, busyMicros }
  }
  slot.state = SlotState.READY
  return { status: Status.OK, payload: digest, busyMicros }
}

export const erase: Handler = (ctx, payload) => {
  const slot = new ByteReader(payload).u8()
  if (ctx.flash.slots[slot] === undefined) return { status: Status.BAD_REQUEST }
  if (busySlot(ctx, slot)) return { status: Status.SLOT_BUSY }
  ctx.flash.slots[slot] = emptySlot()
  dropRunner(ctx.ram, slot)
  if (ctx.ram.transferSlot === slot) ctx.ram.transferSlot = NO_SLOT
  return { status: Status.OK }
}
