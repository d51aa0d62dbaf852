import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { FrameKind, FrameSplitter, cobsDecode, cobsEncode, crc32, decodeFrame, encodeFrame } from '../src/stm32/index.js'

describe('serial framing', () => {
  it('COBS round-trips any bytes and never emits a zero', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1200 }), (bytes) => {
        const enc = cobsEncode(bytes)
        expect(enc.includes(0)).toBe(false)
        expect(cobsDecode(enc)?.equals(Buffer.from(bytes))).toBe(true)
      }),
    )
  })

  it('CRC-32 matches the zlib check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926)
  })

  it('decodes a frame split across reads and rejects any single flipped bit', () => {
    const wire = encodeFrame({ kind: FrameKind.REQ, seq: 7, op: 0x11, status: 0, payload: Buffer.from([0, 1, 2, 0, 255]) })
    const blocks: Buffer[] = []
    const splitter = new FrameSplitter((b) => blocks.push(b))
    splitter.push(wire.subarray(0, 3))
    splitter.push(wire.subarray(3))
    expect(blocks).toHaveLength(1)
    const ok = decodeFrame(blocks[0]!, 256)
    expect(ok.ok && ok.frame.seq === 7 && ok.frame.payload.equals(Buffer.from([0, 1, 2, 0, 255]))).toBe(true)
    for (let bit = 0; bit < (wire.length - 1) * 8; bit++) {
      const bad = Buffer.from(wire.subarray(0, -1))
      bad[bit >> 3]! ^= 1 << (bit & 7)
      expect(decodeFrame(bad, 256).ok).toBe(false)
    }
  })

  it('refuses a frame longer than the negotiated payload', () => {
    const wire = encodeFrame({ kind: FrameKind.RSP, seq: 1, op: 1, status: 0, payload: Buffer.alloc(300, 1) })
    expect(decodeFrame(wire.subarray(0, -1), 256)).toEqual({ ok: false, reason: 'long' })
    expect(decodeFrame(wire.subarray(0, -1), 512).ok).toBe(true)
  })
})
