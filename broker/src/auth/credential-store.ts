import { CredentialRecordSchema, type CredentialRecord, type Role } from '@liquid-edge/protocol'
import { generateSecret, hashSecret, type ScryptParams } from './scrypt.js'

/**
 * Where the broker looks credentials up. Implementations: memory (tests, embedding), file (one
 * machine) and Redis (shared with the controller's registry and across broker nodes).
 */
export interface CredentialStore {
  /** The record for `id`, or `null` when there is none (or it does not validate). */
  get(id: string): Promise<CredentialRecord | null>
  list(): Promise<CredentialRecord[]>
  /** Add or replace a record, and announce the change. */
  put(record: CredentialRecord): Promise<void>
  /** Revoke: delete the record and announce it. True when there was one. */
  remove(id: string): Promise<boolean>
  /** Call `listener(id)` whenever a credential is added, replaced or revoked, also by another process. */
  onChange(listener: (id: string) => void): () => void
  close(): Promise<void>
}

/** What a new credential is for. */
export interface CredentialSpec {
  id: string
  role: Role
  /** Gateways only: the device ids the gateway may speak for. */
  children?: readonly string[]
}

/**
 * Create a credential with a fresh random secret, store only its scrypt hash, and return the
 * secret — the one and only time it is visible.
 */
export async function provisionCredential(
  store: CredentialStore,
  spec: CredentialSpec,
  options: { params?: ScryptParams; now?: number } = {},
): Promise<{ secret: string; record: CredentialRecord }> {
  const secret = generateSecret()
  const hash = await hashSecret(secret, options.params)
  const record = CredentialRecordSchema.parse({
    id: spec.id,
    role: spec.role,
    children: spec.role === 'gateway' ? [...(spec.children ?? [])] : [],
    hash,
    createdAt: options.now ?? Date.now(),
  })
  await store.put(record)
  return { secret, record }
}

/** A listener set that never lets one listener's throw stop the others. */
export class ChangeListeners {
  readonly #listeners = new Set<(id: string) => void>()

  add(listener: (id: string) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  emit(id: string): void {
    for (const l of this.#listeners) {
      try {
        l(id)
      } catch {
        // a listener's failure is its own; the store keeps announcing
      }
    }
  }
}

/** Credentials kept in memory: for tests and for embedding the broker in another process. */
export class MemoryCredentialStore implements CredentialStore {
  readonly #records = new Map<string, CredentialRecord>()
  readonly #listeners = new ChangeListeners()

  get(id: string): Promise<CredentialRecord | null> {
    return Promise.resolve(this.#records.get(id) ?? null)
  }

  list(): Promise<CredentialRecord[]> {
    return Promise.resolve([...this.#records.values()])
  }

  put(record: CredentialRecord): Promise<void> {
    this.#records.set(record.id, CredentialRecordSchema.parse(record))
    this.#listeners.emit(record.id)
    return Promise.resolve()
  }

  remove(id: string): Promise<boolean> {
    const had = this.#records.delete(id)
    if (had) this.#listeners.emit(id)
    return Promise.resolve(had)
  }

  onChange(listener: (id: string) => void): () => void {
    return this.#listeners.add(listener)
  }

  close(): Promise<void> {
    return Promise.resolve()
  }
}
