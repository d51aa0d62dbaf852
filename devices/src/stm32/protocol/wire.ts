/** Opcodes, status codes and the little-endian byte reader/writer of the serial protocol. */

export const PROTOCOL_VERSION = 1

export const Op = {
  HELLO: 0x01,
  STATUS: 0x02,
  XFER_BEGIN: 0x10,
  XFER_CHUNK: 0x11,
  XFER_COMMIT: 0x12,
  ERASE: 0x13,
  ACTIVATE: 0x20,
  CONFIRM: 0x21,
  REVERT: 0x22,
  INFER: 0x30,
  STATS: 0x40,
  SELFTEST: 0x41,
  LOOP_STATS: 0x42,
  RESET: 0x50,
  LOG: 0x60,
  BOOT: 0x61,
} as const
export type Op = (typeof Op)[keyof typeof Op]

export const Status = {
  OK: 0,
  BAD_FRAME: 1,
  UNKNOWN_OP: 2,
  BAD_REQUEST: 3,
  VERSION: 4,
  SLOT_BUSY: 5,
  TOO_LARGE: 6,
  BAD_OFFSET: 7,
  NO_TRANSFER: 8,
  HASH_MISMATCH: 9,
  NOT_READY: 10,
  INPUT_SHAPE: 11,
  INFER_FAILED: 12,
  FLASH_ERROR: 13,
} as const
export type Status = (typeof Status)[keyof typeof Status]

/** The status name for a code, for messages. */
export function statusName(code: number): string {
  return Object.entries(Status).find(([, v]) => v === code)?.[0] ?? `STATUS_${code}`
}

/** Slot states in the SLOTS block. */
export const SlotState = { EMPTY: 0, RECEIVING: 1, READY: 2, BAD: 3 } as const
export type SlotState = (typeof SlotState)[keyof typeof SlotState]

export const NO_SLOT = 0xff

export const ResetReason = { POWER_ON: 0, SOFTWARE: 1, WATCHDOG: 2, BROWN_OUT: 3 } as const
export type ResetReason = (typeof ResetReason)[keyof typeof ResetReason]

/** Thrown by {@link ByteReader} when a payload is shorter than its fields. */
export class ShortPayloadError extends Error {
  override readonly name = 'ShortPayloadError'
}

/** Reads little-endian fields from a payload; throws {@link ShortPayloadError} past its end. */
export class ByteReader {
  private at = 0
  constructor(private readonly buf: Buffer) {}

  private need(n: number): number {
    if (this.at + n > this.buf.length) throw new ShortPayloadError(`payload too short at byte ${this.at}`)
    const at = this.at
    this.at += n
    return at
  }
  u8(): number {
    return this.buf.readUInt8(this.need(1))
  }
  u16(): number {
    return this.buf.readUInt16LE(this.need(2))
  }
  i16(): number {
    return this.buf.readInt16LE(this.need(2))
  }
  u32(): number {
    return this.buf.readUInt32LE(this.need(4))
  }
  bytes(n: number): Buffer {
    const at = this.need(n)
    return this.buf.subarray(at, at + n)
  }
  str8(): string {
    return this.bytes(this.u8()).toString('utf8')
  }
  rest(): Buffer {
    return this.bytes(this.buf.length - this.at)
  }
  f32s(): Float32Array {
    const raw = this.rest()
    if (raw.length % 4 !== 0) throw new ShortPayloadError('float array length is not a multiple of 4')
    const out = new Float32Array(raw.length / 4)
    for (let i = 0; i < out.length; i++) out[i] = raw.readFloatLE(i * 4)
    return out
  }
}

/** Builds a little-endian payload. */
export class ByteWriter {
  private parts: Buffer[] = []
  u8(v: number): this {
    this.parts.push(Buffer.from([v & 0xff]))
    return this
  }
  u16(v: number): this {
    const b = Buffer.allocUnsafe(2)
    b.writeUInt16LE(v & 0xffff)
    this.parts.push(b)
    return this
  }
  i16(v: number): this {
    const b = Buffer.allocUnsafe(2)
    b.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v))))
    this.parts.push(b)
    return this
  }
  u32(v: number): this {
    const b = Buffer.allocUnsafe(4)
    b.writeUInt32LE(Math.max(0, Math.min(0xffffffff, Math.round(v))))
    this.parts.push(b)
    return this
  }
  bytes(b: Uint8Array): this {
    this.parts.push(Buffer.from(b))
    return this
  }
  str8(s: string): this {
    const b = Buffer.from(s, 'utf8').subarray(0, 255)
    return this.u8(b.length).bytes(b)
  }
  f32s(values: ArrayLike<number>): this {
    const b = Buffer.allocUnsafe(values.length * 4)
    for (let i = 0; i < values.length; i++) b.writeFloatLE(values[i] ?? 0, i * 4)
    this.parts.push(b)
    return this
  }
  build(): Buffer {
    return Buffer.concat(this.parts)
  }
}
