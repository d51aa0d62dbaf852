/** HELLO, STATUS, ACTIVATE / CONFIRM / REVERT, INFER, STATS, LOOP_STATS, SELFTEST, RESET on the emulated MCU. */
import { histogramBucket } from '@liquid-edge/protocol'
import { encodeHello, encodeInferReply, encodeLoopStats, encodeStats, writeSlots } from '../protocol/messages.js'
import { parseSlotImage } from '../protocol/slot-image.js'
import { ByteReader, ByteWriter, NO_SLOT, PROTOCOL_VERSION, ResetReason, SlotState, Status } from '../protocol/wire.js'
import type { Handler, McuContext } from './context.js'
import { emptyLoop, slotsBlock } from './mcu-state.js'

const slotsPayload = (ctx: McuContext): Buffer => writeSlots(new ByteWriter(), slotsBlock(ctx.flash)).build()

export const hello: Handler = (ctx, payload) => {
  const r = new ByteReader(payload)
  const min = r.u8()
  const max = r.u8()
  const hostMax = r.u16()
  if (PROTOCOL_VERSION < min || PROTOCOL_VERSION > max) return { status: Status.VERSION, payload: Buffer.from([PROTOCOL_VERSION]) }
  const p = ctx.profile
  return {
    status: Status.OK,
    payload: encodeHello({
      version: PROTOCOL_VERSION,
      maxPayload: Math.min(hostMax, p.maxPayload),
      mcuId: ctx.mcuId,
      firmware: p.firmware,
      hardware: p.hardware,
      flashBytes: p.flashBytes,
      ramBytes: p.ramBytes,
      slotBytes: p.slotBytes,
      slotCount: ctx.flash.slots.length,
      cpuHz: p.cpuHz,
      slots: slotsBlock(ctx.flash),
    }),
  }
}

export const status: Handler = (ctx) => ({ status: Status.OK, payload: slotsPayload(ctx) })

function arenaBytes(ctx: McuContext, modelBytes: number): number {
  return Math.ceil(modelBytes * ctx.profile.arenaPerModelByte)
}

export const activate: Handler = (ctx, payload) => {
  const r = new ByteReader(payload)
  const slot = r.u8()
  const mode = r.u8()
  const target = ctx.flash.slots[slot]
  if (target === undefined || mode > 1) return { status: Status.BAD_REQUEST }
  const image = target.state === SlotState.READY ? parseSlotImage(target.data) : null
  if (image === null) return { status: Status.NOT_READY }
  if (ctx.profile.firmwareRamBytes + arenaBytes(ctx, image.model.length) > ctx.profile.ramBytes) return { status: Status.TOO_LARGE }
  ctx.flash.active = slot
  if (mode === 1) ctx.flash.confirmed = slot
  ctx.log(1, `slot ${slot} active (${mode === 1 ? 'permanent' : 'trial'}): ${image.name}@${image.version}`)
  return { status: Status.OK, payload: slotsPayload(ctx) }
}

export const confirm: Handler = (ctx) => {
  if (ctx.flash.active === NO_SLOT) return { status: Status.NOT_READY }
  ctx.flash.confirmed = ctx.flash.active
  return { status: Status.OK, payload: slotsPayload(ctx) }
}

export const revert: Handler = (ctx) => {
  if (ctx.flash.active !== ctx.flash.confirmed) ctx.log(2, `trial of slot ${ctx.flash.active} reverted to slot ${ctx.flash.confirmed}`)
  ctx.flash.active = ctx.flash.confirmed
  return { status: Status.OK, payload: slotsPayload(ctx) }
}

type Inference =
  | { status: typeof Status.OK; cycles: number; micros: number; energyMicroJ: number; output: Float32Array }
  | { status: number; micros: number }

/** One inference on `slot` (0xFF: the active one), counted in the STATS counters. */
async function runModel(ctx: McuContext, wanted: number, input: Float32Array): Promise<Inference> {
  const slot = wanted === NO_SLOT ? ctx.flash.active : wanted
  const target = ctx.flash.slots[slot]
  const image = target?.state === SlotState.READY ? parseSlotImage(target.data) : null
  if (image === null) return { status: Status.NOT_READY, micros: 0 }
  if (input.length !== image.inputLength) return { status: Status.INPUT_SHAPE, micros: 0 }
  const p = ctx.profile
  const cycles = p.timing.inferFixedCycles + p.timing.inferCyclesPerModelByte * image.model.length
  const micros = Math.round(cycles / (p.cpuHz / 1e6))
  const energyMicroJ = Math.round((p.power.activeMw * micros) / 1000)
  try {
    let runner = ctx.ram.runners.get(slot)
    if (runner === undefined) {
      runner = await ctx.backend.load(image)
      ctx.ram.runners.set(slot, runner)
    }
    const output = await runner.run(input)
    const ram = ctx.ram
    ram.inferences++
    ram.lastMicros = micros
    ram.sumMicros += micros
    ram.maxMicros = Math.max(ram.maxMicros, micros)
    return { status: Status.OK, cycles, micros, energyMicroJ, output }
  } catch (err) {
    ctx.ram.errors++
    ctx.log(3, `inference failed: ${err instanceof Error ? err.message : String(err)}`)
    return { status: Status.INFER_FAILED, micros }
  }
}

export const infer: Handler = async (ctx, payload) => {
  const r = new ByteReader(payload)
  const slot = r.u8()
  const x = await runModel(ctx, slot, r.f32s())
  if (!('output' in x)) return { status: x.status, busyMicros: x.micros }
  return { status: Status.OK, payload: encodeInferReply(x), busyMicros: x.micros }
}

/**
 * One inference of the MCU's own loop (a sensor sample, not a request over the link) on the active
 * model: counted in STATS and in the loop statistics that LOOP_STATS reports. Returns its busy time, µs.
 */
export async function ownInference(ctx: McuContext, input: Float32Array): Promise<number> {
  const x = await runModel(ctx, NO_SLOT, input)
  if (x.status === Status.NOT_READY || x.status === Status.INPUT_SHAPE) return 0
  const loop = ctx.ram.loop
  loop.attempts++
  if (!('output' in x)) {
    loop.errors++
    return x.micros
  }
  loop.minMicros = loop.attempts - loop.errors === 1 ? x.micros : Math.min(loop.minMicros, x.micros)
  loop.maxMicros = Math.max(loop.maxMicros, x.micros)
  loop.sumMicros += x.micros
  loop.energyMicroJ += x.energyMicroJ
  const b = histogramBucket(x.micros / 1000)
  loop.buckets.set(b, (loop.buckets.get(b) ?? 0) + 1)
  return x.micros
}

/** LOOP_STATS: the own loop's inferences since the previous LOOP_STATS, then cleared. */
export const loopStats: Handler = (ctx) => {
  const loop = ctx.ram.loop
  ctx.ram.loop = emptyLoop()
  const bins = [...loop.buckets.keys()].sort((a, b) => a - b)
  return { status: Status.OK, payload: encodeLoopStats({ ...loop, bins, counts: bins.map((b) => loop.buckets.get(b) ?? 0) }) }
}

export const stats: Handler = (ctx) => {
  const ram = ctx.ram
  const now = ctx.now()
  const p = ctx.profile
  const windowMs = Math.max(1, now - ram.windowStart)
  const powerMilliW = p.power.idleMw + ram.windowEnergyMicroJ / windowMs
  ram.windowEnergyMicroJ = 0
  ram.windowStart = now
  const activeImage = ctx.flash.slots[ctx.flash.active]
  const modelBytes = activeImage?.state === SlotState.READY ? activeImage.size : 0
  return {
    status: Status.OK,
    payload: encodeStats({
      uptimeMs: now - ram.bootedAt,
      inferences: ram.inferences,
      errors: ram.errors,
      lastMicros: ram.lastMicros,
      avgMicros: ram.inferences === 0 ? 0 : ram.sumMicros / ram.inferences,
      maxMicros: ram.maxMicros,
      energyMilliJ: (p.power.idleMw * (now - ram.bootedAt) + ram.energyMicroJ) / 1000,
      powerMilliW,
      temperatureC: p.thermal.ambientC + (p.thermal.cPerW * powerMilliW) / 1000,
      ramUsed: p.firmwareRamBytes + arenaBytes(ctx, modelBytes),
      ramTotal: p.ramBytes,
      resets: ctx.flash.resets,
    }),
  }
}

export const selfTest: Handler = (ctx) => {
  const bad = ctx.flash.slots.findIndex((s) => s.state === SlotState.BAD)
  const detail = bad === -1 ? 'flash, RAM and link OK' : `slot ${bad} holds an image that failed its hash`
  return { status: Status.OK, payload: new ByteWriter().u8(1).str8(detail).build() }
}

export const reset: Handler = (ctx) => ({
  status: Status.OK,
  after: () => {
    ctx.reset(ResetReason.SOFTWARE)
  },
})
