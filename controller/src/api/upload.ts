import { randomUUID } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { FastifyInstance, FastifyRequest } from 'fastify'

/** An `application/octet-stream` request body, received into a file of its own. */
export class Upload {
  constructor(
    readonly path: string,
    readonly size: number,
  ) {}

  /** The bytes (the package verifier needs them whole). */
  read(): Promise<Buffer> {
    return readFile(this.path)
  }
}

function tooLarge(limit: number): Error {
  return Object.assign(new Error(`the upload is over the ${limit}-byte limit`), { statusCode: 413 })
}

/**
 * `application/octet-stream` bodies stream to a file in `dir`, never into memory, counted
 * against the route's `bodyLimit` as they arrive (a declared length over it is refused before a
 * byte is read). The handler reads the file; it is deleted when the response is sent.
 */
export async function receiveUploads(app: FastifyInstance, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
  app.addContentTypeParser('application/octet-stream', async (req: FastifyRequest, payload: Readable) => {
    const limit = req.routeOptions.bodyLimit
    if (Number(req.headers['content-length']) > limit) throw tooLarge(limit)
    const path = join(dir, `${randomUUID()}.upload`)
    let size = 0
    const count = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.byteLength
        done(size > limit ? tooLarge(limit) : null, chunk)
      },
    })
    try {
      await pipeline(payload, count, createWriteStream(path, { mode: 0o600 }))
    } catch (err) {
      await rm(path, { force: true })
      throw err
    }
    return new Upload(path, size)
  })
  app.addHook('onResponse', async (req) => {
    if (req.body instanceof Upload) await rm(req.body.path, { force: true })
  })
}
