import { EventEmitter } from 'node:events'
import { decodeFrame, encodeFrame, FrameKind, FrameSplitter, type Frame } from '../link/frame.js'
import { ByteWriter, NO_SLOT, Op, ResetReason, Status } from '../protocol/wire.js'
import type { Handler, HandlerResult, McuContext } from './context.js'
import * as model from './handlers-model.js'
import * as transfer from './handlers-transfer.js'
import { onnxBackend, type InferenceBackend } from './inference.js'
import { emptyFlash, freshRam, type Flash, type Ram } from './mcu-state.js'
import { parseSlotImage } from '../protocol/slot-image.js'
import { STM32H743, type Stm32Profile } from './profile.js'

const HANDLERS: Readonly<Partial<Record<number, Handler>>> = {
  [Op.HELLO]: model.hello,
  [Op.STATUS]: model.status,
  [Op.XFER_BEGIN]: transfer.xferBegin,
  [Op.XFER_CHUNK]: transfer.xferChunk,
  [Op.XFER_COMMIT]: transfer.xferCommit,
  [Op.ERASE]: transfer.erase,
  [Op.ACTIVATE]: model.activate,
  [Op.CONFIRM]: model.confirm,
  [Op.REVERT]: model.revert,
  [Op.INFER]: model.infer,
  [Op.STATS]: model.stats,
  [Op.LOOP_STATS]: model.loopStats,
  [Op.SELFTEST]: model.selfTest,
  [Op.RESET]: model.reset,
}

export interface Stm32EmulatorOptions {
  mcuId: string
  profile?: Stm32Profile
  backend?: InferenceBackend
  /** `realtime` delays responses by the modelled busy time (flash, hashing, inference). @defaultValue 'instant' */
  timing?: 'realtime' | 'instant'
  now?: () => number
}

export interface Stm32EmulatorEvents {
  /** The MCU rebooted (reset reason, and whether an unconfirmed trial was reverted). */
  booted: [reason: number, reverted: boolean]
  log: [level: number, text: string]
  /** Bytes the MCU sends on its UART. */
  transmit: [data: Buffer]
}

/**
 * The MCU side of the serial protocol in TypeScript: flash slots that survive resets, RAM that
 * does not, MCUboot-like trial/revert at boot, timing and power models from a {@link Stm32Profile}.
 * Feed it received UART bytes with {@link receive}; it emits `transmit` with its answers.
 */
export class Stm32Emulator extends EventEmitter<Stm32EmulatorEvents> implements McuContext {
  readonly profile: Stm32Profile
  readonly backend: InferenceBackend
  readonly mcuId: string
  flash: Flash
  ram: Ram
  /** Fault: reset (as a brown-out) once a transfer has programmed at least this many bytes. */
  resetAfterWrittenBytes: number | undefined
  private epoch = 0
  private evtSeq = 0
  private readonly splitter: FrameSplitter
  private readonly realtime: boolean
  private readonly clockNow: () => number
  private queue: Promise<void> = Promise.resolve()
  /** When background work (flash programming) ends, `performance.now()` ms. */
  private backgroundUntil = 0

  constructor(options: Stm32EmulatorOptions) {
    super()
    this.profile = options.profile ?? STM32H743
    this.backend = options.backend ?? onnxBackend
    this.mcuId = options.mcuId
    this.realtime = options.timing === 'realtime'
    this.clockNow = options.now ?? Date.now
    this.flash = emptyFlash(2)
    this.ram = freshRam(this.now())
    this.splitter = new FrameSplitter(
      (block) => {
        this.onBlock(block)
      },
      this.profile.maxPayload * 2 + 64,
    )
  }

  now(): number {
    return this.clockNow()
  }

  /** Bytes arriving on the MCU's UART RX. */
  receive(data: Uint8Array): void {
    this.splitter.push(data)
  }

  log(level: number, text: string): void {
    this.emit('log', level, text)
    this.sendEvent(Op.LOG, new ByteWriter().u8(level).str8(text).build())
  }

  afterChunk(written: number): void {
    if (this.resetAfterWrittenBytes !== undefined && written >= this.resetAfterWrittenBytes) {
      this.resetAfterWrittenBytes = undefined
      this.reset(ResetReason.BROWN_OUT)
    }
  }

  /** Reboot: RAM is lost, flash stays; an unconfirmed trial reverts (MCUboot semantics). */
  reset(reason: number): void {
    this.epoch++
    for (const runner of this.ram.runners.values()) void runner.close().catch(() => undefined)
    this.ram = freshRam(this.now())
    this.flash.resets++
    const reverted = this.flash.active !== this.flash.confirmed
    if (reverted) this.flash.active = this.flash.confirmed
    this.evtSeq = 0
    this.emit('booted', reason, reverted)
    this.sendEvent(Op.BOOT, Buffer.from([reason, reverted ? 1 : 0]))
    if (reverted)
      this.log(2, `unconfirmed trial reverted at boot; active slot ${this.flash.active === NO_SLOT ? 'none' : this.flash.active}`)
  }

  /**
   * The MCU's own inference loop (sensor samples it classifies by itself, not asked over the link):
   * run the active model `count` times on `input` (default: zeros). Counted in STATS and reported,
   * with their latency histogram, by LOOP_STATS. Resolves when they have run.
   */
  runOwn(count: number, input?: Float32Array): Promise<void> {
    const run = async (): Promise<void> => {
      const active = this.flash.slots[this.flash.active]
      const image = active === undefined ? null : parseSlotImage(active.data)
      const x = input ?? new Float32Array(image?.inputLength ?? 0)
      const extraMw = this.profile.power.activeMw - this.profile.power.idleMw
      for (let i = 0; i < count; i++) {
        const micros = await model.ownInference(this, x)
        this.ram.energyMicroJ += (extraMw * micros) / 1000
        this.ram.windowEnergyMicroJ += (extraMw * micros) / 1000
      }
    }
    const done = this.queue.then(run)
    this.queue = done.catch(() => undefined)
    return done
  }

  /** A brown-out: the supply dipped and the MCU rebooted. */
  brownOut(): void {
    this.reset(ResetReason.BROWN_OUT)
  }

  private send(frame: Frame): void {
    this.emit('transmit', encodeFrame(frame))
  }

  private sendEvent(op: number, payload: Buffer): void {
    this.evtSeq = (this.evtSeq + 1) & 0xff
    this.send({ kind: FrameKind.EVT, seq: this.evtSeq, op, status: 0, payload })
  }

  private onBlock(block: Buffer): void {
    const decoded = decodeFrame(block, this.profile.maxPayload)
    if (!decoded.ok) {
      this.send({ kind: FrameKind.NAK, seq: 0, op: 0, status: Status.BAD_FRAME, payload: Buffer.alloc(0) })
      return
    }
    const frame = decoded.frame
    if (frame.kind !== FrameKind.REQ) return
    if (frame.op !== Op.HELLO && frame.seq === this.ram.busySeq) return
    if (frame.op !== Op.HELLO && frame.seq === this.ram.lastSeq && this.ram.lastResponse !== null) {
      this.emit('transmit', this.ram.lastResponse)
      return
    }
    this.ram.busySeq = frame.seq
    const epoch = this.epoch
    this.queue = this.queue.then(() => this.execute(frame, epoch))
  }

  private async execute(frame: Frame, epoch: number): Promise<void> {
    if (epoch !== this.epoch) return
    const pendingMs = this.backgroundUntil - performance.now()
    if (this.realtime && pendingMs >= 1) await new Promise((resolve) => setTimeout(resolve, pendingMs))
    if (epoch !== this.epoch) return
    const handler = HANDLERS[frame.op]
    let result: HandlerResult
    try {
      result = handler === undefined ? { status: Status.UNKNOWN_OP } : await handler(this, frame.payload)
    } catch {
      result = { status: Status.BAD_REQUEST }
    }
    if (epoch !== this.epoch) return
    const busyMicros = result.busyMicros ?? 0
    const backgroundMicros = result.backgroundMicros ?? 0
    this.backgroundUntil = performance.now() + busyMicros / 1000 + backgroundMicros / 1000
    const extraMw = (result.busyMw ?? this.profile.power.activeMw) - this.profile.power.idleMw
    this.ram.energyMicroJ += (extraMw * (busyMicros + backgroundMicros)) / 1000
    this.ram.windowEnergyMicroJ += (extraMw * (busyMicros + backgroundMicros)) / 1000
    if (this.realtime && busyMicros >= 1000) await new Promise((resolve) => setTimeout(resolve, busyMicros / 1000))
    if (epoch !== this.epoch) return
    const wire = encodeFrame({
      kind: FrameKind.RSP,
      seq: frame.seq,
      op: frame.op,
      status: result.status,
      payload: result.payload ?? Buffer.alloc(0),
    })
    this.ram.lastSeq = frame.seq
    this.ram.lastResponse = frame.op === Op.HELLO ? null : wire
    this.ram.busySeq = -1
    this.emit('transmit', wire)
    result.after?.()
  }
}
