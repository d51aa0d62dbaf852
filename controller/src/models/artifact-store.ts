import { createReadStream } from 'node:fs'
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'

/** Content-addressed artifact storage. The filesystem is the default; an object store can implement it. */
export interface ArtifactStore {
  /** Store bytes under their sha256 (idempotent). */
  put(sha256: string, bytes: Uint8Array): Promise<void>
  /** Size in bytes, or null when absent. */
  size(sha256: string): Promise<number | null>
  /** A stream of bytes [start, end] inclusive. */
  read(sha256: string, range?: { start: number; end: number }): Readable
  delete(sha256: string): Promise<void>
}

const SHA = /^[0-9a-f]{64}$/

/** Artifacts as files `<dir>/<sha[0:2]>/<sha>`, written atomically (temp file + rename). */
export class FsArtifactStore implements ArtifactStore {
  constructor(private readonly dir: string) {}

  private path(sha256: string): string {
    if (!SHA.test(sha256)) throw new RangeError('not a sha256')
    return join(this.dir, sha256.slice(0, 2), sha256)
  }

  async put(sha256: string, bytes: Uint8Array): Promise<void> {
    const path = this.path(sha256)
    if ((await this.size(sha256)) === bytes.byteLength) return
    await mkdir(join(this.dir, sha256.slice(0, 2)), { recursive: true })
    const tmp = `${path}.${process.pid}.${Date.now()}.tmp`
    await writeFile(tmp, bytes)
    await rename(tmp, path)
  }

  async size(sha256: string): Promise<number | null> {
    try {
      return (await stat(this.path(sha256))).size
    } catch {
      return null
    }
  }

  read(sha256: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.path(sha256), range === undefined ? {} : { start: range.start, end: range.end })
  }

  async delete(sha256: string): Promise<void> {
    await rm(this.path(sha256), { force: true })
  }
}
