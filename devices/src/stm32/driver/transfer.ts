/** The model transfer (docs/serial-protocol.md §3): begin, chunks, commit, resuming after resets and broken links. */
import { FleetError, isFleetError } from '@liquid-edge/protocol'
import type { LinkClient, LinkResponse } from '../link/link-client.js'
import { ByteReader, ByteWriter, Op, Status } from '../protocol/wire.js'
import { statusError } from './errors.js'

export interface TransferReport {
  size: number
  /** Where the transfer started (non-zero when it resumed a partial one). */
  startOffset: number
  /** Image bytes sent in chunks, counting those sent again. */
  bytesSent: number
  /** Times the MCU lost the transfer (a reset) and it was resumed. */
  resumes: number
  durationMs: number
}

export interface TransferOptions {
  link: LinkClient
  slot: number
  image: Buffer
  sha256: Buffer
  /** Called before re-opening a transfer the MCU lost (to re-run the handshake after a reset). */
  beforeResume: () => Promise<void>
  onProgress?: (written: number, size: number) => void
  /** Extra time BEGIN may take (erasing the slot), ms. @defaultValue 5000 */
  eraseMs?: number
}

/** Smallest chunk the transfer shrinks to on a noisy line. */
const MIN_CHUNK = 256

async function begin(o: TransferOptions): Promise<number> {
  const payload = new ByteWriter().u8(o.slot).u32(o.image.length).bytes(o.sha256).build()
  const r = await o.link.request(Op.XFER_BEGIN, payload, { opTimeMs: o.eraseMs ?? 5000 })
  if (r.status !== Status.OK) throw statusError(r.status, `cannot begin a transfer into slot ${o.slot}`)
  return new ByteReader(r.payload).u32()
}

/** Write `image` into `slot` and commit it; resolves once the MCU verified the sha256. */
export async function transferImage(o: TransferOptions): Promise<TransferReport> {
  const started = performance.now()
  const maxChunk = o.link.maxPayload - 4
  let chunkBytes = maxChunk
  let cleanRun = 0
  let offset = await begin(o)
  const report: TransferReport = { size: o.image.length, startOffset: offset, bytesSent: 0, resumes: 0, durationMs: 0 }
  const maxResumes = 20
  while (offset < o.image.length) {
    const data = o.image.subarray(offset, offset + chunkBytes)
    const before = o.link.counters.retransmits
    const sentAt = o.link.now()
    let r: LinkResponse
    try {
      r = await o.link.request(Op.XFER_CHUNK, new ByteWriter().u32(offset).bytes(data).build(), { responseBytes: 4, opTimeMs: 50 })
    } catch (err) {
      // Frames (garbled ones included) kept arriving, so the line is noisy, not dead: retry with shorter
      // frames (the MCU answers BAD_OFFSET with the right offset if the chunk did land).
      if (!isFleetError(err, 'DEVICE_TIMEOUT') || chunkBytes <= MIN_CHUNK || o.link.lastHeardAt < sentAt) throw err
      chunkBytes = Math.max(MIN_CHUNK, chunkBytes >> 1)
      continue
    }
    report.bytesSent += data.length
    // Adapt the chunk size to the line: halve after a chunk needed two retries, grow back after clean runs.
    if (o.link.counters.retransmits - before >= 2) {
      chunkBytes = Math.max(MIN_CHUNK, chunkBytes >> 1)
      cleanRun = 0
    } else if (++cleanRun >= 8 && chunkBytes < maxChunk) {
      chunkBytes = Math.min(maxChunk, chunkBytes * 2)
      cleanRun = 0
    }
    if (r.status === Status.OK || r.status === Status.BAD_OFFSET) {
      offset = new ByteReader(r.payload).u32()
    } else if (r.status === Status.NO_TRANSFER && report.resumes < maxResumes) {
      report.resumes++
      await o.beforeResume()
      offset = await begin(o)
    } else {
      throw statusError(r.status, `chunk at ${offset} refused`)
    }
    o.onProgress?.(offset, o.image.length)
  }
  const hashMs = 50 + o.image.length / 1024
  const c = await o.link.request(Op.XFER_COMMIT, Buffer.alloc(0), { opTimeMs: hashMs, responseBytes: 32 })
  if (c.status === Status.HASH_MISMATCH) {
    throw new FleetError('AGENT_LOAD_FAILED', 'the slot image in flash does not have the sha256 sent; the slot is marked bad', {
      details: { expected: o.sha256.toString('hex'), actual: c.payload.toString('hex') },
    })
  }
  if (c.status === Status.NO_TRANSFER && report.resumes < maxResumes) {
    // The MCU reset between the last chunk and the commit: re-open (it resumes at the end) and commit again.
    report.resumes++
    await o.beforeResume()
    return transferImage(o).then((r) => ({ ...r, bytesSent: r.bytesSent + report.bytesSent, resumes: r.resumes + report.resumes }))
  }
  if (c.status !== Status.OK) throw statusError(c.status, 'commit refused')
  report.durationMs = performance.now() - started
  return report
}
