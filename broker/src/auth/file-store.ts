import { watch, type FSWatcher } from 'node:fs'
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import * as z from 'zod'
import { CredentialRecordSchema, FleetError, type CredentialRecord } from '@liquid-edge/protocol'
import { ChangeListeners, type CredentialStore } from './credential-store.js'

const FileSchema = z.object({ version: z.literal(1), credentials: z.array(CredentialRecordSchema) })

/**
 * Credentials in one JSON file (`{ version: 1, credentials: [...] }`, mode 0600), for a single
 * machine. Only scrypt hashes are written. The broker re-reads the file when it changes, so
 * `liquid-broker credentials add|revoke` takes effect on a running broker within a moment.
 */
export class FileCredentialStore implements CredentialStore {
  readonly path: string
  readonly #listeners = new ChangeListeners()
  #cache: { mtimeMs: number; size: number; records: Map<string, CredentialRecord> } | undefined
  #watcher: FSWatcher | undefined
  /** Reloads run one after the other, so none is missed and none overlaps. */
  #reloads: Promise<void> = Promise.resolve()
  /** What the watcher saw last, to tell which ids a change touched. */
  #snapshot = new Map<string, CredentialRecord>()

  constructor(path: string) {
    this.path = path
  }

  async #load(): Promise<Map<string, CredentialRecord>> {
    let info
    try {
      info = await stat(this.path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map()
      throw err
    }
    if (this.#cache?.mtimeMs === info.mtimeMs && this.#cache.size === info.size) return this.#cache.records
    const parsed = FileSchema.safeParse(JSON.parse(await readFile(this.path, 'utf8')))
    if (!parsed.success) {
      throw new FleetError('CONFIG_INVALID', `credentials file ${this.path} is invalid: ${z.prettifyError(parsed.error)}`)
    }
    const records = new Map(parsed.data.credentials.map((r) => [r.id, r]))
    this.#cache = { mtimeMs: info.mtimeMs, size: info.size, records }
    return records
  }

  async #save(records: Map<string, CredentialRecord>): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true })
    const tmp = `${this.path}.${process.pid}.tmp`
    const body = { version: 1, credentials: [...records.values()].sort((a, b) => a.id.localeCompare(b.id)) }
    await writeFile(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 })
    await rename(tmp, this.path)
    this.#cache = undefined
  }

  async get(id: string): Promise<CredentialRecord | null> {
    return (await this.#load()).get(id) ?? null
  }

  async list(): Promise<CredentialRecord[]> {
    return [...(await this.#load()).values()]
  }

  async put(record: CredentialRecord): Promise<void> {
    const records = new Map(await this.#load())
    records.set(record.id, CredentialRecordSchema.parse(record))
    await this.#save(records)
    this.#listeners.emit(record.id)
  }

  async remove(id: string): Promise<boolean> {
    const records = new Map(await this.#load())
    if (!records.delete(id)) return false
    await this.#save(records)
    this.#listeners.emit(id)
    return true
  }

  onChange(listener: (id: string) => void): () => void {
    this.#startWatching()
    return this.#listeners.add(listener)
  }

  /** Watch the directory (writes replace the file by rename) and announce the ids that changed. */
  #startWatching(): void {
    if (this.#watcher !== undefined) return
    const name = basename(this.path)
    void this.#load()
      .catch(() => new Map<string, CredentialRecord>())
      .then((records) => {
        this.#snapshot = records
        if (this.#watcher !== undefined) return
        this.#watcher = watch(dirname(this.path), (_event, file) => {
          if (file === name) this.#reloads = this.#reloads.then(() => this.#reload())
        })
        this.#watcher.on('error', () => undefined)
      })
  }

  async #reload(): Promise<void> {
    const before = this.#snapshot
    let after: Map<string, CredentialRecord>
    try {
      after = await this.#load()
    } catch {
      return // a half-written or invalid file: keep serving the last good one
    }
    this.#snapshot = after
    for (const id of new Set([...before.keys(), ...after.keys()])) {
      if (JSON.stringify(before.get(id)) !== JSON.stringify(after.get(id))) this.#listeners.emit(id)
    }
  }

  close(): Promise<void> {
    this.#watcher?.close()
    this.#watcher = undefined
    return Promise.resolve()
  }
}
