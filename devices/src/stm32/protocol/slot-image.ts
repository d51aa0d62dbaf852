/** The slot image written into an MCU flash slot (docs/serial-protocol.md §5). */
export const SLOT_IMAGE_MAGIC = 'LLNM'
export const SLOT_IMAGE_FORMAT = 1
export const SLOT_IMAGE_HEADER_BYTES = 84
const MAX_RANK = 4

export interface SlotImageInfo {
  name: string
  version: string
  inputShape: number[]
  inputLength: number
  outputLength: number
  model: Buffer
}

function padded(text: string, size: number): Buffer {
  const out = Buffer.alloc(size)
  Buffer.from(text, 'utf8').copy(out, 0, 0, size)
  return out
}

function unpadded(buf: Buffer): string {
  const end = buf.indexOf(0)
  return buf.subarray(0, end === -1 ? buf.length : end).toString('utf8')
}

const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1)

/** Build a slot image; `inputShape` up to rank 4. */
export function buildSlotImage(info: {
  name: string
  version: string
  inputShape: number[]
  outputShape: number[]
  model: Uint8Array
}): Buffer {
  if (info.inputShape.length < 1 || info.inputShape.length > MAX_RANK) throw new RangeError(`input rank must be 1..${MAX_RANK}`)
  const head = Buffer.alloc(SLOT_IMAGE_HEADER_BYTES)
  head.write(SLOT_IMAGE_MAGIC, 0, 'latin1')
  head[4] = SLOT_IMAGE_FORMAT
  head[5] = info.inputShape.length
  head.writeUInt32LE(product(info.inputShape), 8)
  head.writeUInt32LE(product(info.outputShape), 12)
  head.writeUInt32LE(info.model.length, 16)
  padded(info.name, 32).copy(head, 20)
  padded(info.version, 16).copy(head, 52)
  info.inputShape.forEach((d, i) => head.writeUInt32LE(d, 68 + 4 * i))
  return Buffer.concat([head, info.model])
}

/** Parse a slot image's header; `null` when it is not one. */
export function parseSlotImage(image: Buffer): SlotImageInfo | null {
  if (image.length < SLOT_IMAGE_HEADER_BYTES || image.toString('latin1', 0, 4) !== SLOT_IMAGE_MAGIC) return null
  const rank = image[5] ?? 0
  if (image[4] !== SLOT_IMAGE_FORMAT || rank < 1 || rank > MAX_RANK) return null
  const modelLength = image.readUInt32LE(16)
  if (SLOT_IMAGE_HEADER_BYTES + modelLength !== image.length) return null
  const inputShape = Array.from({ length: rank }, (_, i) => image.readUInt32LE(68 + 4 * i))
  const inputLength = image.readUInt32LE(8)
  if (product(inputShape) !== inputLength) return null
  return {
    name: unpadded(image.subarray(20, 52)),
    version: unpadded(image.subarray(52, 68)),
    inputShape,
    inputLength,
    outputLength: image.readUInt32LE(12),
    model: image.subarray(SLOT_IMAGE_HEADER_BYTES),
  }
}
