import { cobsDecode, cobsEncode } from './cobs.js'
import { crc32 } from './crc32.js'

/** Frame kinds (docs/serial-protocol.md §1). */
export const FrameKind = { REQ: 0x01, RSP: 0x02, NAK: 0x03, EVT: 0x04 } as const
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind]

/** Header (4) + CRC (4). */
export const FRAME_OVERHEAD = 8
/** Largest payload accepted before the HELLO handshake negotiated another. */
export const DEFAULT_MAX_PAYLOAD = 256

export interface Frame {
  kind: FrameKind
  seq: number
  op: number
  status: number
  payload: Buffer
}

/** The bytes on the wire for one frame: COBS(header | payload | crc32) 0x00. */
export function encodeFrame(frame: Frame): Buffer {
  const raw = Buffer.allocUnsafe(frame.payload.length + FRAME_OVERHEAD)
  raw[0] = frame.kind
  raw[1] = frame.seq & 0xff
  raw[2] = frame.op & 0xff
  raw[3] = frame.status & 0xff
  frame.payload.copy(raw, 4)
  const body = raw.subarray(0, 4 + frame.payload.length)
  raw.writeUInt32LE(crc32(body), body.length)
  const encoded = cobsEncode(raw)
  return Buffer.concat([encoded, Buffer.from([0])])
}

export type DecodeFailure = 'cobs' | 'short' | 'long' | 'crc' | 'kind'

/**
 * Decode one frame received between two 0x00 delimiters (delimiter not included).
 * Never throws: a malformed frame gives the reason it was dropped.
 */
export function decodeFrame(block: Uint8Array, maxPayload: number): { ok: true; frame: Frame } | { ok: false; reason: DecodeFailure } {
  if (block.length > maxPayload + FRAME_OVERHEAD + Math.ceil((maxPayload + FRAME_OVERHEAD) / 254) + 1) {
    return { ok: false, reason: 'long' }
  }
  const raw = cobsDecode(block)
  if (raw === null) return { ok: false, reason: 'cobs' }
  if (raw.length < FRAME_OVERHEAD) return { ok: false, reason: 'short' }
  if (raw.length > maxPayload + FRAME_OVERHEAD) return { ok: false, reason: 'long' }
  const bodyEnd = raw.length - 4
  if (crc32(raw.subarray(0, bodyEnd)) !== raw.readUInt32LE(bodyEnd)) return { ok: false, reason: 'crc' }
  const kind = raw[0] ?? 0
  if (kind < FrameKind.REQ || kind > FrameKind.EVT) return { ok: false, reason: 'kind' }
  return {
    ok: true,
    frame: {
      kind: kind as FrameKind,
      seq: raw[1] ?? 0,
      op: raw[2] ?? 0,
      status: raw[3] ?? 0,
      payload: Buffer.from(raw.subarray(4, bodyEnd)),
    },
  }
}

/**
 * Splits a byte stream into 0x00-delimited blocks (what `@serialport/parser-delimiter` does for the
 * host; this one has no stream machinery, for the emulator and the bench). Blocks longer than
 * `maxBlock` are discarded up to the next delimiter.
 */
export class FrameSplitter {
  private chunks: Buffer[] = []
  private size = 0
  private overflow = false

  constructor(
    private readonly onBlock: (block: Buffer) => void,
    private readonly maxBlock = 64 * 1024,
  ) {}

  push(data: Uint8Array): void {
    let start = 0
    for (let i = data.indexOf(0); i !== -1; i = data.indexOf(0, start)) {
      this.append(data.subarray(start, i))
      const block = this.chunks.length === 1 ? (this.chunks[0] ?? Buffer.alloc(0)) : Buffer.concat(this.chunks)
      const overflow = this.overflow
      this.chunks = []
      this.size = 0
      this.overflow = false
      start = i + 1
      if (!overflow && block.length > 0) this.onBlock(block)
    }
    this.append(data.subarray(start))
  }

  private append(part: Uint8Array): void {
    if (part.length === 0 || this.overflow) return
    if (this.size + part.length > this.maxBlock) {
      this.overflow = true
      this.chunks = []
      this.size = 0
      return
    }
    this.chunks.push(Buffer.from(part))
    this.size += part.length
  }
}
