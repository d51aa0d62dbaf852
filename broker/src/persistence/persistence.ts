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
export function createBackend(config: BrokerConfig): Backend {
  if (config.persistence === 'memory') return { persistence: undefined, mq: undefined, destroy: () => Promise.resolve() }
  const ttl = config.redis.packetTtlSec
  const persistence = aedesPersistenceRedis({
    conn: new Redis(config.redis.url),
    maxSessionDelivery: config.redis.maxSessionDelivery,
    packetTTL: () => ttl,
  })
  const mq = mqemitterRedis({ connectionString: config.redis.url, matchEmptyLevels: true })
  return {
    persistence,
    mq,
    async destroy() {
      await persistence.destroy().catch(() => undefined)
    },
  }
}
