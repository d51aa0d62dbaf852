import { mkdir, open, readFile, rename, rm, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { FleetError } from '@liquid-edge/protocol'
import type { StateStore } from '../ports.js'

const NAME = /^[A-Za-z0-9._-]{1,128}$/

/**
 * Write `bytes` to `path` atomically and durably: write a temp file, fsync it, rename it over the
 * target, fsync the directory. A power cut leaves the old or the new content, never a torn file.
 * @throws {FleetError} `AGENT_DISK_FULL` when the disk is full.
 */
export async function writeFileAtomic(dir: string, name: string, bytes: Uint8Array): Promise<void> {
  const target = join(dir, name)
  const tmp = `${target}.tmp-${process.pid}`
  try {
    const fh = await open(tmp, 'w', 0o600)
    try {
      await fh.writeFile(bytes)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, target)
    await syncDir(dir)
  } catch (err) {
    await unlink(tmp).catch(() => undefined)
    if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
      throw new FleetError('AGENT_DISK_FULL', `no space left writing ${name}`, { cause: err })
    }
    throw err
  }
}

/** fsync a directory so that a rename in it survives a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** A {@link StateStore} of files in one directory, written atomically. */
export async function createFileStateStore(dir: string): Promise<StateStore> {
  await mkdir(dir, { recursive: true })
  const check = (name: string): string => {
    if (!NAME.test(name)) throw new RangeError(`invalid state name '${name}'`)
    return name
  }
  return {
    async read(name) {
      try {
        return await readFile(join(dir, check(name)))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
        throw err
      }
    },
    write: (name, bytes) => writeFileAtomic(dir, check(name), bytes),
    remove: (name) => rm(join(dir, check(name)), { force: true }),
  }
}

/** A {@link StateStore} in memory, for simulated fleets where nothing must survive the process. */
export function createMemoryStateStore(): StateStore {
  const docs = new Map<string, Uint8Array>()
  return {
    read: (name) => Promise.resolve(docs.get(name) ?? null),
    write: (name, bytes) => {
      docs.set(name, bytes.slice())
      return Promise.resolve()
    },
    remove: (name) => {
      docs.delete(name)
      return Promise.resolve()
    },
  }
}
