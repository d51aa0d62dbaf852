import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { Clock, DeviceDriver, InferenceResult, ModelImage, SelfTestResult, SensorReadings, SlotName } from '@liquid-edge/agent'
import { FleetError, isFleetError } from '@liquid-edge/protocol'
import { pino, type Logger } from 'pino'
import { LinkClient, type LinkCounters } from '../link/link-client.js'
import {
  decodeHello,
  decodeInferReply,
  decodeLoopStats,
  decodeStats,
  readSlots,
  type HelloInfo,
  type LoopStats,
  type McuStats,
  type SlotsBlock,
} from '../protocol/messages.js'
import { ByteReader, ByteWriter, NO_SLOT, Op, PROTOCOL_VERSION, SlotState, Status } from '../protocol/wire.js'
import { checkLoadable } from '../../driver-common.js'
import { statusError } from './errors.js'
import { SLOT_INDEX, slotImageOf } from './images.js'
import { openSerial, type PortOpener, type SerialConnection } from './serial.js'
import { transferImage, type TransferReport } from './transfer.js'

export interface Stm32DriverOptions {
  /** Serial device path, e.g. `/dev/ttyACM0`. */
  path: string
  /** @defaultValue 115200 */
  baudRate?: number
  /** How to open the port; the default is the real `SerialPort`. Tests pass `openMockPort`. */
  openPort?: PortOpener
  /** Largest frame payload the host offers in HELLO. @defaultValue 4096 */
  maxPayload?: number
  /** Attempts per request before `DEVICE_TIMEOUT`. @defaultValue 10 */
  maxAttempts?: number
  logger?: Logger
  clock?: Clock
}

export interface Stm32DriverEvents {
  /** The MCU rebooted; `reverted` when an unconfirmed trial was rolled back at boot. */
  booted: [info: { reason: number; reverted: boolean }]
  /** A log line from the firmware. */
  log: [line: { level: number; text: string }]
  /** Transfer progress of a `load`. */
  progress: [written: number, size: number]
  /** A request got no answer after all retries. */
  unresponsive: [err: FleetError]
}

/**
 * The STM32 driver: one MCU behind a serial port, driven with the protocol of
 * docs/serial-protocol.md. `load` transfers into the given (inactive) flash slot, `activate` starts a
 * trial the MCU reverts on reset unless {@link confirm}ed — loading over the confirmed standby slot
 * confirms the running one first, since the agent has then moved on.
 */
export class Stm32Driver extends EventEmitter<Stm32DriverEvents> implements DeviceDriver {
  hardware = 'stm32'
  info: HelloInfo | undefined
  lastTransfer: TransferReport | undefined
  private needHello = true
  private latencyBudgetMs = new Map<number, number>()
  private closing: Promise<void> | undefined

  private constructor(
    private readonly conn: SerialConnection,
    readonly link: LinkClient,
    private readonly log: Logger,
    private readonly maxPayload: number,
  ) {
    super()
    link.on('event', (frame) => {
      this.onEvent(frame.op, frame.payload)
    })
  }

  /** Open the port and run the HELLO handshake. Rejects with `DEVICE_TIMEOUT` when the MCU does not answer. */
  static async create(options: Stm32DriverOptions): Promise<Stm32Driver> {
    const baudRate = options.baudRate ?? 115200
    const log = options.logger ?? pino({ level: 'silent' })
    const link = new LinkClient({
      write: (data) => {
        ref.conn?.write(data)
      },
      baudRate,
      ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    })
    const ref: { conn?: SerialConnection } = {}
    const conn = await openSerial(options.path, baudRate, options.openPort, (block) => {
      link.handleBlock(block)
    })
    ref.conn = conn
    const driver = new Stm32Driver(conn, link, log, options.maxPayload ?? 4096)
    try {
      await driver.hello()
    } catch (err) {
      await driver.close()
      throw err
    }
    return driver
  }

  private onEvent(op: number, payload: Buffer): void {
    try {
      const r = new ByteReader(payload)
      if (op === Op.BOOT) {
        const info = { reason: r.u8(), reverted: r.u8() === 1 }
        this.needHello = true
        this.log.warn(info, 'MCU rebooted')
        this.emit('booted', info)
      } else if (op === Op.LOG) {
        const line = { level: r.u8(), text: r.str8() }
        this.log.debug({ mcu: line.text }, 'MCU log')
        this.emit('log', line)
      }
    } catch {
      this.log.debug({ op }, 'malformed MCU event dropped')
    }
  }

  /** HELLO: negotiates version and frame size, learns the MCU's identity and slots. */
  async hello(): Promise<HelloInfo> {
    this.link.maxPayload = 256
    const req = new ByteWriter().u8(PROTOCOL_VERSION).u8(PROTOCOL_VERSION).u16(this.maxPayload).build()
    const r = await this.request(Op.HELLO, req, { responseBytes: 256 })
    if (r.status === Status.VERSION)
      throw new FleetError('DEVICE_UNSUPPORTED', `the MCU does not speak serial protocol v${PROTOCOL_VERSION}`)
    if (r.status !== Status.OK) throw statusError(r.status, 'HELLO refused')
    const info = decodeHello(r.payload)
    this.info = info
    this.hardware = info.hardware
    this.link.maxPayload = Math.min(info.maxPayload, this.maxPayload)
    this.needHello = false
    return info
  }

  private async request(op: number, payload?: Buffer, opts?: { opTimeMs?: number; responseBytes?: number }) {
    try {
      return await this.link.request(op, payload, opts)
    } catch (err) {
      if (isFleetError(err, 'DEVICE_TIMEOUT')) {
        this.needHello = true
        this.emit('unresponsive', err)
      }
      throw err
    }
  }

  private async ready(): Promise<void> {
    if (this.closing !== undefined) throw new FleetError('DEVICE_LINK_ERROR', 'the driver is closed')
    if (this.needHello) await this.hello()
  }

  /** The slot table. */
  async slots(): Promise<SlotsBlock> {
    await this.ready()
    const r = await this.request(Op.STATUS, undefined, { responseBytes: 128 })
    if (r.status !== Status.OK) throw statusError(r.status, 'STATUS refused')
    return readSlots(new ByteReader(r.payload), this.info?.slotCount ?? 2)
  }

  async load(slot: SlotName, image: ModelImage): Promise<void> {
    const idx = SLOT_INDEX[slot]
    checkLoadable(image)
    const table = await this.slots()
    const bytes = slotImageOf(image)
    const sha256 = createHash('sha256').update(bytes).digest()
    const present = table.slots[idx]
    // Flash keeps its slots across gateway restarts: a slot already holding this exact image is not sent again.
    if (present?.state === SlotState.READY && present.size === bytes.length && present.sha256.equals(sha256)) {
      this.latencyBudgetMs.set(idx, image.manifest.latencyThresholdMs)
      return
    }
    if (table.active === idx) throw new FleetError('DEVICE_UNSUPPORTED', `slot ${slot} is active; load into the other slot`)
    if (table.confirmed === idx) await this.confirm()
    if (this.info !== undefined && bytes.length > this.info.slotBytes) {
      throw new FleetError(
        'DEVICE_OUT_OF_MEMORY',
        `the model image (${bytes.length} bytes) exceeds the flash slot (${this.info.slotBytes} bytes)`,
      )
    }
    this.lastTransfer = await transferImage({
      link: this.link,
      slot: idx,
      image: bytes,
      sha256,
      beforeResume: () => this.ready(),
      onProgress: (w, s) => this.emit('progress', w, s),
    })
    this.latencyBudgetMs.set(idx, image.manifest.latencyThresholdMs)
    this.log.info({ slot, ...this.lastTransfer }, 'model transferred')
  }

  async unload(slot: SlotName): Promise<void> {
    const idx = SLOT_INDEX[slot]
    const table = await this.slots()
    if (table.slots[idx]?.state === SlotState.EMPTY) return
    if (table.active === idx) throw new FleetError('DEVICE_UNSUPPORTED', `slot ${slot} is active and cannot be unloaded`)
    if (table.confirmed === idx) await this.confirm()
    const r = await this.request(Op.ERASE, Buffer.from([idx]))
    if (r.status !== Status.OK) throw statusError(r.status, `erase of slot ${slot} refused`)
  }

  /** Activate `slot` as a trial; activating the confirmed slot again is a revert. */
  async activate(slot: SlotName): Promise<void> {
    const idx = SLOT_INDEX[slot]
    const table = await this.slots()
    if (table.active === idx) return
    if (table.confirmed === idx) return this.revert()
    const r = await this.request(Op.ACTIVATE, Buffer.from([idx, 0]), { responseBytes: 128 })
    if (r.status !== Status.OK) throw statusError(r.status, `activation of slot ${slot} refused`)
  }

  /** Make the running trial permanent (it then survives resets). */
  async confirm(): Promise<void> {
    await this.ready()
    const r = await this.request(Op.CONFIRM, undefined, { responseBytes: 128 })
    if (r.status !== Status.OK) throw statusError(r.status, 'confirm refused')
  }

  /** Go back to the confirmed slot. */
  async revert(): Promise<void> {
    await this.ready()
    const r = await this.request(Op.REVERT, undefined, { responseBytes: 128 })
    if (r.status !== Status.OK) throw statusError(r.status, 'revert refused')
  }

  async infer(input: Float32Array, slot?: SlotName): Promise<InferenceResult> {
    await this.ready()
    const idx = slot === undefined ? NO_SLOT : SLOT_INDEX[slot]
    const payload = new ByteWriter().u8(idx).f32s(input).build()
    if (payload.length > this.link.maxPayload) {
      throw new FleetError('DEVICE_UNSUPPORTED', `input of ${input.length} values exceeds the link's frame size`)
    }
    const budget = this.latencyBudgetMs.get(idx) ?? Math.max(100, ...this.latencyBudgetMs.values())
    const r = await this.request(Op.INFER, payload, { opTimeMs: budget * 2, responseBytes: this.link.maxPayload })
    if (r.status !== Status.OK) throw statusError(r.status, 'inference')
    const x = decodeInferReply(r.payload)
    return { output: x.output, latencyMs: x.micros / 1000, energyMj: x.energyMicroJ / 1000 }
  }

  /** Raw MCU counters (STATS). */
  async stats(): Promise<McuStats> {
    await this.ready()
    const r = await this.request(Op.STATS, undefined, { responseBytes: 64 })
    if (r.status !== Status.OK) throw statusError(r.status, 'STATS refused')
    return decodeStats(r.payload)
  }

  /** False once the firmware answered LOOP_STATS with UNKNOWN_OP (it has no loop of its own to report). */
  private loopStatsKnown = true

  /**
   * The inferences the MCU ran on its own since the previous call (LOOP_STATS, which clears them);
   * null when the firmware does not report an own loop.
   */
  async loopStats(): Promise<LoopStats | null> {
    if (!this.loopStatsKnown) return null
    await this.ready()
    const r = await this.request(Op.LOOP_STATS, undefined, { responseBytes: this.link.maxPayload })
    if (r.status === Status.UNKNOWN_OP) {
      this.loopStatsKnown = false
      return null
    }
    if (r.status !== Status.OK) throw statusError(r.status, 'LOOP_STATS refused')
    return decodeLoopStats(r.payload)
  }

  async readSensors(): Promise<SensorReadings> {
    const s = await this.stats()
    const table = await this.slots()
    const slotBytes = this.info?.slotBytes ?? 0
    const free = table.slots.filter((x) => x.state === SlotState.EMPTY).length * slotBytes
    return {
      powerMw: s.powerMilliW,
      temperatureC: s.temperatureC,
      memory: { usedBytes: s.ramUsed, totalBytes: s.ramTotal },
      storage: { freeBytes: free, totalBytes: slotBytes * table.slots.length },
    }
  }

  async selfTest(): Promise<SelfTestResult> {
    if (this.closing !== undefined) throw new FleetError('DEVICE_LINK_ERROR', 'the driver is closed')
    try {
      await this.ready()
      const r = await this.request(Op.SELFTEST, undefined, { opTimeMs: 500, responseBytes: 256 })
      if (r.status !== Status.OK) return { ok: false, detail: `SELFTEST refused (${r.status})` }
      const rd = new ByteReader(r.payload)
      const ok = rd.u8() === 1
      return { ok, detail: rd.str8() }
    } catch (err) {
      return { ok: false, detail: err instanceof Error ? err.message : String(err) }
    }
  }

  /** Ask the MCU to reboot (an unconfirmed trial reverts). */
  async reset(): Promise<void> {
    await this.ready()
    const r = await this.request(Op.RESET)
    if (r.status !== Status.OK) throw statusError(r.status, 'RESET refused')
    this.needHello = true
  }

  /** Link counters (requests, retransmissions, NAKs, bad frames, timeouts). */
  get counters(): LinkCounters {
    return this.link.counters
  }

  close(): Promise<void> {
    return (this.closing ??= (async () => {
      this.link.close()
      await this.conn.close()
    })())
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}

/** Open the port, handshake, and resolve with a ready {@link Stm32Driver}. */
export function createStm32Driver(options: Stm32DriverOptions): Promise<Stm32Driver> {
  return Stm32Driver.create(options)
}
