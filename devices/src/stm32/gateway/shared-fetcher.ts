import { createHash } from 'node:crypto'
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { ArtifactFetcher, ArtifactRequest } from '@liquid-edge/agent'

export interface SharedFetcher extends ArtifactFetcher {
  /** Downloads actually made (not served from the cache). */
  readonly downloads: number
  close(): void
}

/**
 * An {@link ArtifactFetcher} shared by all children of a gateway: each artifact (by URL and size)
 * is downloaded once into `cacheDir` and copied to every child that asks. Concurrent requests wait
 * for the same download; a child that asks again for an artifact it already got (it found the copy
 * bad) causes a fresh download.
 */
export function createSharedFetcher(inner: ArtifactFetcher, cacheDir: string): SharedFetcher {
  const pending = new Map<string, Promise<string>>()
  const served = new Map<string, Set<string>>()
  const shared = new AbortController()
  let downloads = 0

  const download = async (key: string, req: ArtifactRequest): Promise<string> => {
    await mkdir(cacheDir, { recursive: true })
    const path = join(cacheDir, key)
    const complete = await stat(path).then(
      (s) => s.size === req.size,
      () => false,
    )
    if (complete) return path
    downloads++
    await inner.fetch({ url: req.url, size: req.size, destPath: `${path}.part`, signal: shared.signal })
    await rename(`${path}.part`, path)
    return path
  }

  return {
    get downloads() {
      return downloads
    },
    async fetch(req) {
      const key = createHash('sha256').update(`${req.url}\n${req.size}`).digest('hex').slice(0, 32)
      const seen = served.get(key) ?? new Set<string>()
      served.set(key, seen)
      if (seen.has(req.destPath) && !pending.has(key)) {
        seen.clear()
        await rm(join(cacheDir, key), { force: true })
      }
      let job = pending.get(key)
      if (job === undefined) {
        job = download(key, req).finally(() => pending.delete(key))
        pending.set(key, job)
      }
      const aborted = new Promise<never>((_, reject) => {
        if (req.signal.aborted) reject(req.signal.reason as Error)
        req.signal.addEventListener('abort', () => {
          reject(req.signal.reason as Error)
        })
      })
      aborted.catch(() => undefined)
      const path = await Promise.race([job, aborted])
      await copyFile(path, req.destPath)
      seen.add(req.destPath)
      req.onProgress?.(req.size)
    },
    close() {
      shared.abort()
    },
  }
}
