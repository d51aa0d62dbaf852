import { Redis } from 'ioredis'
import { CredentialRecordSchema, credentialChannel, credentialKey, type CredentialRecord } from '@liquid-edge/protocol'
import { ChangeListeners, type CredentialStore } from './credential-store.js'

export interface RedisCredentialStoreOptions {
  /** A Redis URL, or a client the store may use (it is not closed by the store). */
  redis: string | Redis
  /** Key prefix shared with the controller's registry. @defaultValue 'lln' */
  prefix?: string
}

/**
 * Credentials in Redis in the layout of `@liquid-edge/protocol` (`credentialKey`: one JSON record
 * per id; `credentialChannel`: change announcements). The controller's registry writes the same
 * records when it provisions a device, and every broker node reacts to the channel — a revoked
 * device is disconnected on all nodes.
 */
export class RedisCredentialStore implements CredentialStore {
  readonly prefix: string
  readonly #redis: Redis
  readonly #owned: boolean
  readonly #listeners = new ChangeListeners()
  #subscriber: Redis | undefined
  #subscribed: Promise<void> = Promise.resolve()

  constructor(options: RedisCredentialStoreOptions) {
    this.prefix = options.prefix ?? 'lln'
    this.#owned = typeof options.redis === 'string'
    this.#redis = typeof options.redis === 'string' ? new Redis(options.redis, { lazyConnect: false }) : options.redis
  }

  async get(id: string): Promise<CredentialRecord | null> {
    const raw = await this.#redis.get(credentialKey(id, this.prefix))
    return raw === null ? null : parseRecord(raw, id)
  }

  async list(): Promise<CredentialRecord[]> {
    const out: CredentialRecord[] = []
    let cursor = '0'
    do {
      const [next, keys] = await this.#redis.scan(cursor, 'MATCH', credentialKey('*', this.prefix), 'COUNT', 500)
      cursor = next
      const values = keys.length === 0 ? [] : await this.#redis.mget(...keys)
      for (const [i, raw] of values.entries()) {
        const id = keys[i]?.slice(credentialKey('', this.prefix).length) ?? ''
        const record = raw === null ? null : parseRecord(raw, id)
        if (record !== null) out.push(record)
      }
    } while (cursor !== '0')
    return out.sort((a, b) => a.id.localeCompare(b.id))
  }

  async put(record: CredentialRecord): Promise<void> {
    const valid = CredentialRecordSchema.parse(record)
    await this.#redis.set(credentialKey(valid.id, this.prefix), JSON.stringify(valid))
    await this.#redis.publish(credentialChannel(this.prefix), valid.id)
  }

  async remove(id: string): Promise<boolean> {
    const deleted = await this.#redis.del(credentialKey(id, this.prefix))
    await this.#redis.publish(credentialChannel(this.prefix), id)
    return deleted > 0
  }

  onChange(listener: (id: string) => void): () => void {
    if (this.#subscriber === undefined) {
      const sub = this.#redis.duplicate()
      this.#subscriber = sub
      sub.on('error', () => undefined) // ioredis reconnects by itself
      sub.on('message', (_channel: string, id: string) => {
        this.#listeners.emit(id)
      })
      this.#subscribed = sub.subscribe(credentialChannel(this.prefix)).then(
        () => undefined,
        () => undefined,
      )
    }
    return this.#listeners.add(listener)
  }

  /** Resolves once the change subscription is active (tests wait on it). */
  ready(): Promise<void> {
    return this.#subscribed
  }

  async close(): Promise<void> {
    const sub = this.#subscriber
    this.#subscriber = undefined
    if (sub !== undefined) sub.disconnect()
    if (this.#owned) await this.#redis.quit().catch(() => undefined)
  }
}

function parseRecord(raw: string, id: string): CredentialRecord | null {
  try {
    const parsed = CredentialRecordSchema.safeParse(JSON.parse(raw))
    return parsed.success && parsed.data.id === id ? parsed.data : null
  } catch {
    return null
  }
}
