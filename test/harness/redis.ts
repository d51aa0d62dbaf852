import { Redis } from 'ioredis'

/** The Redis the tests use: `REDIS_URL`, or the machine's on 127.0.0.1:6379. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/** A key prefix no other test uses, for BullMQ `prefix` and our own keys. */
export function uniquePrefix(label = 't'): string {
  return `${label}-${crypto.randomUUID().slice(0, 12)}`
}

/** A Redis client fit for BullMQ (`maxRetriesPerRequest: null`). */
export function redisClient(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: null })
}

/** Delete every key under `prefix` (SCAN, not KEYS), for teardown. */
export async function deleteKeys(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0'
  let deleted = 0
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500)
    cursor = next
    if (keys.length > 0) deleted += await redis.unlink(...keys)
  } while (cursor !== '0')
  return deleted
}
