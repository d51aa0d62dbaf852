/**
 * COBS (Consistent Overhead Byte Stuffing): removes every 0x00 from a frame so that 0x00 can
 * delimit frames on the wire (docs/serial-protocol.md §1). Overhead: one byte per 254, plus one.
 */

/** Encode `input` (no delimiter appended). */
export function cobsEncode(input: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(input.length + Math.ceil(input.length / 254) + 1)
  let codeAt = 0
  let o = 1
  let code = 1
  for (const byte of input) {
    if (byte === 0) {
      out[codeAt] = code
      codeAt = o++
      code = 1
      continue
    }
    out[o++] = byte
    if (++code === 0xff) {
      out[codeAt] = code
      codeAt = o++
      code = 1
    }
  }
  out[codeAt] = code
  return out.subarray(0, o)
}

/** Decode one COBS block (without its delimiter); `null` when it is malformed. */
export function cobsDecode(input: Uint8Array): Buffer | null {
  const out = Buffer.allocUnsafe(input.length)
  let i = 0
  let o = 0
  while (i < input.length) {
    const code = input[i++] ?? 0
    if (code === 0 || i + code - 1 > input.length) return null
    for (let k = 1; k < code; k++) {
      const b = input[i++] ?? 0
      if (b === 0) return null
      out[o++] = b
    }
    if (code !== 0xff && i < input.length) out[o++] = 0
  }
  return out.subarray(0, o)
}
