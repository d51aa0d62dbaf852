import { Redis } from 'ioredis'
import aedesPersistenceRedis from 'aedes-persistence-redis'
import mqemitterRedis from 'mqemitter-redis'
import type { BrokerConfig } from '../config.js'

/** What aedes is given for persistence and message distribution, and how to let go of it. */
export interface Backend {
  /** `undefined`: aedes' in-memory defaults. */
  persistence: unknown
  mq: unknown
  /** Flush and disconnect (after aedes has stopped using it). */
  destroy(): Promise<void>
}

/**
 * `memory`: aedes' in-memory persistence and emitter — one node, nothing survives a restart.
 * `redis`: aedes-persistence-redis (retained messages, sessions, offline QoS 1 queues, wills)
 * and mqemitter-redis (messages between nodes), so nodes on one Redis form one broker.
 */
export async function createBackend(config: BrokerConfig): Promise<Backend> {
  if (config.persistence === 'memory') return { persistence: undefined, mq: undefined, destroy: () => Promise.resolve() }
  // Connections must be ready before aedes subscribes: a SUBSCRIBE queued before ioredis' ready
  // check puts the connection in subscriber mode and the check (INFO) then fails.
  const [subConn, pubConn] = await Promise.all([connectRedis(config.redis.url), connectRedis(config.redis.url)])
  const ttl = config.redis.packetTtlSec
  const persistence = aedesPersistenceRedis({
    conn: new Redis(config.redis.url),
    maxSessionDelivery: config.redis.maxSessionDelivery,
    packetTTL: () => ttl,
  })
  coalesceAddSubscriptions(persistence)
  // mqemitter-redis is typed against its own ioredis 5; ioredis 6 clients work (TECH-NOTES §1.5).
  const mq = mqemitterRedis({ subConn: subConn as never, pubConn: pubConn as never, matchEmptyLevels: true })
  return {
    persistence,
    mq,
    async destroy() {
      await persistence.destroy().catch(() => undefined)
    },
  }
}

async function connectRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true })
  redis.on('error', () => undefined) // ioredis reconnects by itself; commands fail meanwhile
  await redis.connect()
  return redis
}

/**
 * aedes 1.2 calls `addSubscriptions` once per filter of a SUBSCRIBE, each time with the packet's
 * whole list; the Redis persistence waits for its own broadcast keyed by the list's first topic,
 * so two concurrent identical calls overwrite each other's waiter and one never resolves (a
 * persistent session subscribing to two filters at once hangs). Identical in-flight calls share one.
 */
function coalesceAddSubscriptions(persistence: ReturnType<typeof aedesPersistenceRedis>): void {
  const inflight = new WeakMap<object, Promise<unknown>>()
  const add = persistence.addSubscriptions.bind(persistence)
  persistence.addSubscriptions = (client, subs, cb) => {
    if (cb !== undefined) return add(client, subs, cb)
    let pending = inflight.get(subs)
    if (pending === undefined) {
      pending = Promise.resolve(add(client, subs)).finally(() => inflight.delete(subs))
      inflight.set(subs, pending)
    }
    return pending
  }
}
