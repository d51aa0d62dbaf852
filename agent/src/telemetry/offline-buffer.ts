import { appendFile, readFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import { TelemetryBodySchema, type TelemetryBody } from '@liquid-edge/protocol'
import { writeFileAtomic } from '../state/file-state-store.js'

/**
 * A bounded FIFO of telemetry windows kept while the device is offline, mirrored to an append-only
 * JSON-lines file so that it survives a restart. When full, the oldest window is dropped and
 * counted. Overflow compacts the file when a quarter of it is dead (appends stay O(1) amortized);
 * sending rewrites it, once per acknowledged batch.
 */
export class OfflineBuffer {
  private entries: TelemetryBody[] = []
  private fileLines = 0
  /** Windows dropped since the last one was sent. */
  dropped = 0
  private writing: Promise<void> = Promise.resolve()

  private constructor(
    private readonly path: string | null,
    readonly capacity: number,
  ) {}

  /** Open (and recover) the buffer; `path` null keeps it in memory only. */
  static async open(path: string | null, capacity: number): Promise<OfflineBuffer> {
    const buf = new OfflineBuffer(path, capacity)
    if (path === null) return buf
    let text = ''
    try {
      text = await readFile(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    const lines = text.split('\n').filter((l) => l.length > 0)
    buf.fileLines = lines.length
    for (const line of lines) {
      try {
        const parsed = TelemetryBodySchema.safeParse(JSON.parse(line))
        if (parsed.success) buf.entries.push(parsed.data)
      } catch {
        // a torn last line after a power cut: skip it
      }
    }
    if (buf.entries.length > capacity) {
      buf.dropped += buf.entries.length - capacity
      buf.entries = buf.entries.slice(-capacity)
    }
    return buf
  }

  get size(): number {
    return this.entries.length
  }

  /** Queue a window; drops the oldest when full. */
  push(body: TelemetryBody): Promise<void> {
    this.entries.push(body)
    if (this.entries.length > this.capacity) {
      this.entries.shift()
      this.dropped++
    }
    return this.persist(JSON.stringify(body) + '\n')
  }

  /** The oldest `n` windows, without removing them. */
  peek(n: number): TelemetryBody[] {
    return this.entries.slice(0, n)
  }

  /** Remove the oldest `n` windows (after they were sent). */
  shift(n: number): Promise<void> {
    this.entries.splice(0, n)
    return this.persist(null)
  }

  /** Resolves when every write so far is on disk (or failed). */
  flushed(): Promise<void> {
    return this.writing.catch(() => undefined)
  }

  private persist(line: string | null): Promise<void> {
    const path = this.path
    if (path === null) return Promise.resolve()
    this.writing = this.writing
      .catch(() => undefined)
      .then(async () => {
        const dead = this.fileLines + (line === null ? 0 : 1) - this.entries.length
        if (line === null || dead > Math.max(16, this.capacity / 4)) {
          const text = this.entries.map((e) => JSON.stringify(e) + '\n').join('')
          await writeFileAtomic(dirname(path), basename(path), Buffer.from(text))
          this.fileLines = this.entries.length
        } else {
          await appendFile(path, line)
          this.fileLines++
        }
      })
    return this.writing
  }
}
