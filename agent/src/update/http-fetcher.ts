import { open, stat, truncate } from 'node:fs/promises'
import { FleetError } from '@liquid-edge/protocol'
import type { ArtifactFetcher, ArtifactRequest } from '../ports.js'

export interface HttpFetcherOptions {
  /** Refuse any artifact larger than this, whatever the desired state says. @defaultValue 256 MiB */
  maxBytes?: number
  /** Time allowed until the response headers arrive. @defaultValue 15000 */
  headersTimeoutMs?: number
  /** Abort when no byte arrives for this long. @defaultValue 15000 */
  idleTimeoutMs?: number
}

async function existingSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size
  } catch {
    return 0
  }
}

function downloadError(message: string, cause?: unknown): FleetError {
  return new FleetError('AGENT_DOWNLOAD_FAILED', message, { retryable: true, ...(cause === undefined ? {} : { cause }) })
}

/**
 * The default fetcher: HTTP(S) GET that resumes a partial file with `Range: bytes=N-`, refuses
 * bodies larger than the expected size or the cap, and aborts on a header or idle timeout.
 */
export function createHttpFetcher(options: HttpFetcherOptions = {}): ArtifactFetcher {
  const maxBytes = options.maxBytes ?? 256 * 1024 * 1024
  const headersTimeoutMs = options.headersTimeoutMs ?? 15_000
  const idleTimeoutMs = options.idleTimeoutMs ?? 15_000

  async function fetchArtifact(req: ArtifactRequest): Promise<void> {
    if (req.size > maxBytes) {
      throw new FleetError('AGENT_ARTIFACT_TOO_LARGE', `artifact of ${req.size} bytes exceeds the ${maxBytes}-byte cap`)
    }
    let have = await existingSize(req.destPath)
    if (have > req.size) {
      await truncate(req.destPath, 0)
      have = 0
    }
    if (have === req.size) return
    const ctl = new AbortController()
    const onAbort = (): void => {
      ctl.abort(req.signal.reason)
    }
    req.signal.addEventListener('abort', onAbort, { once: true })
    let timer = setTimeout(() => {
      ctl.abort(downloadError('timed out waiting for the artifact server'))
    }, headersTimeoutMs)
    try {
      const res = await fetch(req.url, { signal: ctl.signal, headers: have > 0 ? { range: `bytes=${have}-` } : {} })
      if (res.status === 200) have = 0
      else if (res.status !== 206) {
        await res.body?.cancel()
        throw new FleetError('AGENT_DOWNLOAD_FAILED', `artifact server answered HTTP ${res.status}`, {
          retryable: true,
          details: { httpStatus: res.status },
        })
      }
      const declared = Number(res.headers.get('content-length') ?? NaN)
      if (Number.isFinite(declared) && have + declared > req.size) {
        await res.body?.cancel()
        throw new FleetError('AGENT_ARTIFACT_TOO_LARGE', `artifact is ${have + declared} bytes, the desired state says ${req.size}`)
      }
      if (res.body === null) throw downloadError('artifact response has no body')
      const fh = await open(req.destPath, have === 0 ? 'w' : 'a')
      try {
        for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
          clearTimeout(timer)
          timer = setTimeout(() => {
            ctl.abort(downloadError(`no data for ${idleTimeoutMs} ms`))
          }, idleTimeoutMs)
          if (have + chunk.byteLength > req.size) {
            throw new FleetError('AGENT_ARTIFACT_TOO_LARGE', `artifact is larger than the ${req.size} bytes the desired state says`)
          }
          await fh.write(chunk)
          have += chunk.byteLength
          req.onProgress?.(have)
        }
        await fh.sync()
      } finally {
        await fh.close()
      }
      if (have !== req.size) throw downloadError(`artifact ended after ${have} of ${req.size} bytes`)
    } catch (err) {
      if (err instanceof FleetError) throw err
      if (ctl.signal.aborted) {
        const reason: unknown = ctl.signal.reason
        if (reason instanceof FleetError) throw reason
        throw reason instanceof Error ? reason : downloadError('download aborted')
      }
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') throw new FleetError('AGENT_DISK_FULL', 'no space left for the artifact')
      throw downloadError(`download failed: ${(err as Error).message}`, err)
    } finally {
      clearTimeout(timer)
      req.signal.removeEventListener('abort', onAbort)
    }
  }
  return { fetch: fetchArtifact }
}
