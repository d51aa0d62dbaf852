/** The model transfer (docs/serial-protocol.md §3): begin, chunks, commit, resuming after resets and broken links. */
import { FleetError } from '@liquid-edge/protocol'
import type { LinkClient } from '../link/link-client.js'
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

async function begin(o: TransferOptions): Promise<number> {
  const payload = new ByteWriter().u8(o.slot).u32(o.image.length).bytes(o.sha256).build()
  const r = await o.link.request(Op.XFER_BEGIN, payload, { opTimeMs: o.eraseMs ?? 5000 })
  if (r.status !== Status.OK) throw statusError(r.status, `cannot begin a transfer into slot ${o.slot}`)
  return new ByteReader(r.payload).u32()
}

/** Write `image` into `slot` and commit it; resolves once the MCU verified the sha256. */
export async function transferImage(o: TransferOptions): Promise<TransferReport> {
  const started = performance.now()
  const chunkBytes = o.link.maxPayload - 4
  let offset = await begin(o)
  const report: TransferReport = { size: o.image.length, startOffset: offset, bytesSent: 0, resumes: 0, durationMs: 0 }
  const maxResumes = 20
  while (offset < o.image.length) {
    const data = o.image.subarray(offset, offset + chunkBytes)
    const r = await o.link.request(Op.XFER_CHUNK, new ByteWriter().u32(offset).bytes(data).build(), { responseBytes: 4, opTimeMs: 50 })
    report.bytesSent += data.length
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
