import type { Redis } from 'ioredis'

// Take or renew: free, or already ours.
const LEASE_LUA = `
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`

const RELEASE_LEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`

/** Take or renew the lease at `key` for `owner` (a controller instance) for `ttlMs`; false when another holds it. */
export async function takeLease(redis: Redis, key: string, owner: string, ttlMs: number): Promise<boolean> {
  return (await redis.eval(LEASE_LUA, 1, key, owner, ttlMs)) === 1
}

/** Give the lease back, if `owner` holds it. */
export async function releaseLease(redis: Redis, key: string, owner: string): Promise<void> {
  await redis.eval(RELEASE_LEASE_LUA, 1, key, owner)
}
