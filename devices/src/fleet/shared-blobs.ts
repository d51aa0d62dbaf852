import { createHash } from 'node:crypto'
import type { StateStore } from '@liquid-edge/agent'

/** Documents smaller than this are kept per device: hashing them would cost more than it saves. */
const SHARE_FROM_BYTES = 1024

/**
 * Documents of many in-memory devices, shared by content: when 100,000 simulated devices hold the
 * same model package in a slot, the process keeps one copy (counted, freed with its last holder).
 */
export class SharedBlobs {
  readonly #blobs = new Map<string, { bytes: Uint8Array; holders: number }>()

  /** Distinct shared documents and their bytes. */
  get stats(): { blobs: number; bytes: number } {
    let bytes = 0
    for (const b of this.#blobs.values()) bytes += b.bytes.byteLength
    return { blobs: this.#blobs.size, bytes }
  }

  /** A device's {@link StateStore}, in memory, sharing large documents through this cache. */
  store(): StateStore {
    const docs = new Map<string, { bytes: Uint8Array; key: string | null }>()
    const drop = (name: string) => {
      const old = docs.get(name)
      docs.delete(name)
      if (old?.key != null) this.#release(old.key)
    }
    return {
      read: (name) => Promise.resolve(docs.get(name)?.bytes ?? null),
      write: (name, bytes) => {
        drop(name)
        docs.set(name, bytes.byteLength < SHARE_FROM_BYTES ? { bytes: bytes.slice(), key: null } : this.#hold(bytes))
        return Promise.resolve()
      },
      remove: (name) => {
        drop(name)
        return Promise.resolve()
      },
    }
  }

  #hold(bytes: Uint8Array): { bytes: Uint8Array; key: string } {
    const key = createHash('sha256').update(bytes).digest('base64')
    let blob = this.#blobs.get(key)
    if (blob === undefined) this.#blobs.set(key, (blob = { bytes: bytes.slice(), holders: 0 }))
    blob.holders++
    return { bytes: blob.bytes, key }
  }

  #release(key: string): void {
    const blob = this.#blobs.get(key)
    if (blob !== undefined && --blob.holders === 0) this.#blobs.delete(key)
  }
}
