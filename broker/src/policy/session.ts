import { canPublish, canSubscribe, type Identity } from '@liquid-edge/protocol'
import type { TokenBucket } from './token-bucket.js'

/** What the broker counts per client; `broker.clientStats(id)` returns it. */
export interface ClientStats {
  accepted: number
  notAuthorized: number
  invalidPayloads: number
  rateLimited: number
  subscribesRefused: number
  /** The code of the last invalid payload, e.g. `PROTO_INVALID_PAYLOAD`. */
  lastInvalidCode: string | null
}

const CACHE_LIMIT = 1024

/**
 * One connected client as the broker knows it from CONNECT: its identity (from the credential
 * record), token bucket and counters. ACL answers are cached per topic because aedes calls
 * `authorizeForward` synchronously for every delivery; the answers still come only from the
 * protocol's `canPublish` / `canSubscribe`.
 */
export class ClientSession {
  identity: Identity
  readonly address: string
  /** The credential hash the client logged in with; a different one in the store means re-login. */
  readonly credentialHash: string
  readonly bucket: TokenBucket | null
  readonly stats: ClientStats = {
    accepted: 0,
    notAuthorized: 0,
    invalidPayloads: 0,
    rateLimited: 0,
    subscribesRefused: 0,
    lastInvalidCode: null,
  }
  readonly #root: string
  readonly #pub = new Map<string, boolean>()
  readonly #sub = new Map<string, boolean>()

  constructor(identity: Identity, options: { root: string; address: string; credentialHash: string; bucket: TokenBucket | null }) {
    this.identity = identity
    this.#root = options.root
    this.address = options.address
    this.credentialHash = options.credentialHash
    this.bucket = options.bucket
  }

  /** Replace the identity (a gateway's children changed) and forget cached answers. */
  setIdentity(identity: Identity): void {
    this.identity = identity
    this.#pub.clear()
    this.#sub.clear()
  }

  mayPublish(topic: string): boolean {
    return cached(this.#pub, topic, () => canPublish(this.identity, topic, this.#root))
  }

  /** For a filter (SUBSCRIBE) or a topic name (delivery): both go through `canSubscribe`. */
  mayReceive(filterOrTopic: string): boolean {
    return cached(this.#sub, filterOrTopic, () => canSubscribe(this.identity, filterOrTopic, this.#root))
  }
}

function cached(cache: Map<string, boolean>, key: string, compute: () => boolean): boolean {
  const hit = cache.get(key)
  if (hit !== undefined) return hit
  const value = compute()
  if (cache.size >= CACHE_LIMIT) cache.clear()
  cache.set(key, value)
  return value
}
