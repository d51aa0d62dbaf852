import { canPublish, canSubscribe, type Identity, type ParsedTopic } from '@liquid-edge/protocol'
import type { AppTopics } from './app-topics.js'
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
 * What the broker decided, once, about a topic a client publishes to: whether it may, and the
 * topic's classification (protocol topic, delivery rule, bridged or not), so that each further
 * publish on it costs one lookup.
 */
export interface PublishRoute {
  readonly allowed: boolean
  /** The protocol topic; `null` outside the protocol's topics (application topics). */
  readonly topic: ParsedTopic | null
  /** The label the message counters use: the topic kind, or `other`. */
  readonly kind: string
  /** The contract's QoS and retain flag for the topic's kind (`null` with `topic`). */
  readonly rule: { readonly qos: 0 | 1; readonly retain: boolean } | null
  /** Whether an accepted message on the topic goes to the NATS bridge. */
  readonly bridged: boolean
}

/**
 * One connected client as the broker knows it from CONNECT: its identity (from the credential
 * record), token bucket and counters. ACL answers are cached per topic (publish routes and
 * subscribe/receive answers) because aedes calls `authorizePublish` for every publish and
 * `authorizeForward` synchronously for every delivery; the answers come from the protocol's
 * `canPublish` / `canSubscribe` and, outside the fleet root only, the configured application topics.
 */
export class ClientSession {
  identity: Identity
  readonly address: string
  /** The credential hash the client logged in with; a different one in the store means re-login. */
  readonly credentialHash: string
  readonly bucket: TokenBucket | null
  /** The MQTT username the client logged in with (`%u` in application-topic rules). */
  readonly username: string | undefined
  readonly stats: ClientStats = {
    accepted: 0,
    notAuthorized: 0,
    invalidPayloads: 0,
    rateLimited: 0,
    subscribesRefused: 0,
    lastInvalidCode: null,
  }
  readonly #root: string
  readonly #app: AppTopics | null
  readonly #routes = new Map<string, PublishRoute>()
  readonly #sub = new Map<string, boolean>()

  constructor(
    identity: Identity,
    options: {
      root: string
      address: string
      credentialHash: string
      bucket: TokenBucket | null
      username?: string | undefined
      appTopics?: AppTopics | null
    },
  ) {
    this.identity = identity
    this.#root = options.root
    this.#app = options.appTopics ?? null
    this.username = options.username
    this.address = options.address
    this.credentialHash = options.credentialHash
    this.bucket = options.bucket
  }

  /** Replace the identity (a gateway's children changed) and forget cached answers. */
  setIdentity(identity: Identity): void {
    this.identity = identity
    this.#routes.clear()
    this.#sub.clear()
  }

  /** May the client publish to `topic`? (Not cached: {@link publishRoute} caches the whole decision.) */
  mayPublish(topic: string): boolean {
    return canPublish(this.identity, topic, this.#root) || (this.#app?.mayPublish(this.identity, this.username, topic) ?? false)
  }

  /** The cached decision for `topic`, made by `classify` on the first publish to it (and after an identity change). */
  publishRoute(topic: string, classify: (session: ClientSession, topic: string) => PublishRoute): PublishRoute {
    let route = this.#routes.get(topic)
    if (route === undefined) {
      route = classify(this, topic)
      if (this.#routes.size >= CACHE_LIMIT) this.#routes.clear()
      this.#routes.set(topic, route)
    }
    return route
  }

  /** For a filter (SUBSCRIBE) or a topic name (delivery): the fleet's ACL, then application topics outside the root. */
  mayReceive(filterOrTopic: string): boolean {
    return cached(
      this.#sub,
      filterOrTopic,
      () =>
        canSubscribe(this.identity, filterOrTopic, this.#root) ||
        (this.#app?.mayRead(this.identity, this.username, filterOrTopic) ?? false),
    )
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
