import { EventEmitter } from 'node:events'
import { FleetError } from '@liquid-edge/protocol'
import { systemClock, type Clock } from '@liquid-edge/agent'
import { DEFAULT_MAX_PAYLOAD, FRAME_OVERHEAD, FrameKind, decodeFrame, encodeFrame, type DecodeFailure, type Frame } from './frame.js'

export interface LinkClientOptions {
  /** Writes encoded bytes to the port. */
  write: (data: Buffer) => void
  /** Line rate, to size timeouts. @defaultValue 115200 */
  baudRate?: number
  /** Attempts per request before it fails with `DEVICE_TIMEOUT`. @defaultValue 10 */
  maxAttempts?: number
  /** Fixed part of every response timeout, ms. @defaultValue 50 */
  baseTimeoutMs?: number
  clock?: Clock
}

export interface LinkResponse {
  status: number
  payload: Buffer
}

export interface RequestOptions {
  /** Time the MCU needs to execute the op (inference, hashing), ms. */
  opTimeMs?: number
  /** Largest response expected, bytes of payload. @defaultValue 64 */
  responseBytes?: number
}

/** Counters of the link, for telemetry and the bench. */
export interface LinkCounters {
  requests: number
  retransmits: number
  naks: number
  badFrames: number
  timeouts: number
  bytesOut: number
}

export interface LinkClientEvents {
  /** An unsolicited MCU event frame (LOG, BOOT). */
  event: [frame: Frame]
  /** A frame was dropped (bad COBS, CRC, length). */
  badFrame: [reason: DecodeFailure]
}

interface Outstanding {
  seq: number
  wire: Buffer
  attempts: number
  nakd: boolean
  timeoutMs: number
  timer: unknown
  resolve: (r: LinkResponse) => void
  reject: (e: Error) => void
  op: number
}

/**
 * The host side of the link (docs/serial-protocol.md §2): one request outstanding, retransmitted on
 * NAK or timeout, responses matched by sequence number. Feed it delimited blocks with {@link handleBlock}.
 */
export class LinkClient extends EventEmitter<LinkClientEvents> {
  maxPayload = DEFAULT_MAX_PAYLOAD
  /** When the last block (valid or not) arrived from the MCU, by the link's clock. */
  lastHeardAt = Number.NEGATIVE_INFINITY
  readonly counters: LinkCounters = { requests: 0, retransmits: 0, naks: 0, badFrames: 0, timeouts: 0, bytesOut: 0 }
  private seq = 0
  private current: Outstanding | undefined
  private queue: Promise<unknown> = Promise.resolve()
  private closed = false
  private readonly clock: Clock
  private readonly baud: number
  private readonly maxAttempts: number
  private readonly baseTimeoutMs: number

  constructor(private readonly options: LinkClientOptions) {
    super()
    this.clock = options.clock ?? systemClock
    this.baud = options.baudRate ?? 115200
    this.maxAttempts = options.maxAttempts ?? 10
    this.baseTimeoutMs = options.baseTimeoutMs ?? 50
  }

  /** The link clock's time, ms. */
  now(): number {
    return this.clock.now()
  }

  /** Wire time of `bytes` at the line rate (8N1: 10 bits a byte), ms. */
  wireMs(bytes: number): number {
    return (bytes * 10_000) / this.baud
  }

  /** Send a request and resolve with the MCU's response (any status). Requests are serialized. */
  request(op: number, payload: Buffer = Buffer.alloc(0), options: RequestOptions = {}): Promise<LinkResponse> {
    const run = this.queue.then(() => this.send(op, payload, options))
    this.queue = run.catch(() => undefined)
    return run
  }

  private send(op: number, payload: Buffer, options: RequestOptions): Promise<LinkResponse> {
    if (this.closed) return Promise.reject(new FleetError('DEVICE_LINK_ERROR', 'the serial link is closed'))
    if (payload.length > this.maxPayload) {
      return Promise.reject(
        new FleetError('DEVICE_LINK_ERROR', `payload of ${payload.length} bytes exceeds the link maximum ${this.maxPayload}`),
      )
    }
    this.seq = (this.seq + 1) & 0xff
    const wire = encodeFrame({ kind: FrameKind.REQ, seq: this.seq, op, status: 0, payload })
    const respBytes = (options.responseBytes ?? 64) + FRAME_OVERHEAD + 4
    const timeoutMs = this.baseTimeoutMs + 3 * (this.wireMs(wire.length) + this.wireMs(respBytes)) + (options.opTimeMs ?? 0)
    this.counters.requests++
    return new Promise<LinkResponse>((resolve, reject) => {
      this.current = { seq: this.seq, wire, attempts: 0, nakd: false, timeoutMs, timer: undefined, resolve, reject, op }
      this.transmit()
    })
  }

  private transmit(): void {
    const cur = this.current
    if (cur === undefined) return
    if (cur.attempts >= this.maxAttempts) {
      this.current = undefined
      cur.reject(
        new FleetError('DEVICE_TIMEOUT', `no answer from the MCU to op 0x${cur.op.toString(16)} after ${cur.attempts} attempts`, {
          retryable: true,
          details: { op: cur.op, attempts: cur.attempts },
        }),
      )
      return
    }
    if (cur.attempts > 0) this.counters.retransmits++
    cur.attempts++
    cur.nakd = false
    this.clock.clearTimeout(cur.timer)
    cur.timer = this.clock.setTimeout(() => {
      if (this.current !== cur) return
      this.counters.timeouts++
      this.transmit()
    }, cur.timeoutMs)
    this.counters.bytesOut += cur.wire.length
    try {
      this.options.write(cur.wire)
    } catch (err) {
      this.clock.clearTimeout(cur.timer)
      this.current = undefined
      cur.reject(new FleetError('DEVICE_LINK_ERROR', 'writing to the serial port failed', { cause: err }))
    }
  }

  /** Feed one 0x00-delimited block received from the port (delimiter removed). Never throws. */
  handleBlock(block: Buffer): void {
    if (block.length === 0) return
    this.lastHeardAt = this.clock.now()
    const decoded = decodeFrame(block, Math.max(this.maxPayload, DEFAULT_MAX_PAYLOAD))
    if (!decoded.ok) {
      this.counters.badFrames++
      this.emit('badFrame', decoded.reason)
      return
    }
    const frame = decoded.frame
    if (frame.kind === FrameKind.EVT) {
      this.emit('event', frame)
      return
    }
    const cur = this.current
    if (cur === undefined) return
    if (frame.kind === FrameKind.NAK) {
      this.counters.naks++
      if (cur.nakd) return
      cur.nakd = true
      this.transmit()
      return
    }
    if (frame.kind !== FrameKind.RSP || frame.seq !== cur.seq) return
    this.clock.clearTimeout(cur.timer)
    this.current = undefined
    cur.resolve({ status: frame.status, payload: frame.payload })
  }

  /** Fail the outstanding request and refuse new ones. Idempotent. */
  close(): void {
    if (this.closed) return
    this.closed = true
    const cur = this.current
    this.current = undefined
    if (cur !== undefined) {
      this.clock.clearTimeout(cur.timer)
      cur.reject(new FleetError('DEVICE_LINK_ERROR', 'the serial link was closed'))
    }
  }
}
