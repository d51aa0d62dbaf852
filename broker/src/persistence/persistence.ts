import { Readable } from 'node:stream'
import { Redis } from 'ioredis'
import aedesPersistence from 'aedes-persistence'
import mqemitter from 'mqemitter'
import { flattenDeliveries } from './flat-emitter.js'
import aedesPersistenceRedis from 'aedes-persistence-redis'
import mqemitterRedis from 'mqemitter-redis'
import type { Logger } from 'pino'
import type { BrokerConfig } from '../config.js'

/** What aedes is given for persistence and message distribution, and how to let go of it. */
export interface Backend {
  /** `undefined`: aedes' in-memory emitter. */
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
export async function createBackend(config: BrokerConfig, logger: Logger): Promise<Backend> {
  if (config.persistence === 'memory') {
    // aedes' own defaults (concurrency 100, empty levels match [MQTT-4.7.1-3]), with a flat stack.
    const mq = flattenDeliveries(mqemitter({ concurrency: 100, matchEmptyLevels: true }))
    return { persistence: exactRetainedLookups(memoryPersistence()), mq, destroy: () => Promise.resolve() }
  }
  // Connections must be ready before aedes subscribes: a SUBSCRIBE queued before ioredis' ready
  // check puts the connection in subscriber mode and the check (INFO) then fails.
  const [subConn, pubConn] = await Promise.all([connectRedis(config.redis.url), connectRedis(config.redis.url)])
  const ttl = config.redis.packetTtlSec
  const conn = new Redis(config.redis.url)
  watchRedis(conn, logger)
  const persistence = aedesPersistenceRedis({
    conn,
    maxSessionDelivery: config.redis.maxSessionDelivery,
    packetTTL: () => ttl,
  })
  coalesceAddSubscriptions(persistence)
  // mqemitter-redis is typed against its own ioredis 5; ioredis 6 clients work (TECH-NOTES §1.5).
  const emitter = mqemitterRedis({ subConn: subConn as never, pubConn: pubConn as never, matchEmptyLevels: true })
  // It re-emits its connections' errors on `state`: unheard, a Redis restart would crash the node.
  ;(emitter as unknown as { state: NodeJS.EventEmitter }).state.on('error', () => undefined)
  const mq = flattenDeliveries(emitter)
  return {
    persistence,
    mq,
    async destroy() {
      await persistence.destroy().catch(() => undefined)
    },
  }
}

/**
 * Log a Redis outage once and its end: ioredis reconnects by itself (commands fail meanwhile, and
 * its errors would otherwise go unheard or, through mqemitter-redis, crash the process).
 */
function watchRedis(redis: Redis, logger: Logger): void {
  let down = false
  redis.on('error', (err) => {
    if (down) return
    down = true
    logger.warn({ err }, 'redis unreachable; reconnecting')
  })
  redis.on('ready', () => {
    if (!down) return
    down = false
    logger.info('redis reachable again')
  })
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

/** The part of an aedes persistence that stores and finds retained messages. */
interface RetainedPersistence {
  storeRetained(packet: RetainedPacket, cb?: (err?: unknown) => void): unknown
  createRetainedStream(pattern: string): Readable
  createRetainedStreamCombi(patterns: string[]): Readable
}
interface RetainedPacket {
  topic: string
  payload: Buffer
}

/** aedes' own in-memory persistence (its types do not resolve under this project's settings). */
const memoryPersistence = aedesPersistence as unknown as () => object

/** A topic filter without wildcards matches exactly one topic name. */
function isExact(filter: string): boolean {
  return !filter.includes('+') && !filter.includes('#')
}

/**
 * aedes' memory persistence answers every SUBSCRIBE by testing the filter against every retained
 * message, so each device that connects pays for the whole fleet's retained states: quadratic
 * in fleet size (30,000 topic tests per connection at 5,000 devices). A device subscribes to its
 * own topics, without wildcards: those are answered from an index by topic name; filters with
 * wildcards (the controller's) keep the scan.
 */
export function exactRetainedLookups<P extends object>(persistence: P): P {
  const inner = persistence as P & RetainedPersistence
  const byTopic = new Map<string, RetainedPacket>()
  const store = inner.storeRetained.bind(inner)
  const combi = inner.createRetainedStreamCombi.bind(inner)
  const single = inner.createRetainedStream.bind(inner)
  Object.assign(inner, {
    storeRetained(packet: RetainedPacket, cb?: (err?: unknown) => void): unknown {
      if (packet.payload.length === 0) byTopic.delete(packet.topic)
      else byTopic.set(packet.topic, { ...packet })
      return store(packet, cb)
    },
    createRetainedStreamCombi(patterns: string[]): Readable {
      if (!patterns.every(isExact)) return combi(patterns)
      return Readable.from(patterns.flatMap((p) => byTopic.get(p) ?? []))
    },
    createRetainedStream(pattern: string): Readable {
      return isExact(pattern) ? Readable.from(byTopic.has(pattern) ? [byTopic.get(pattern)] : []) : single(pattern)
    },
  })
  return persistence
}
