// aedes-persistence-redis ships no typings; this is the part the broker uses.
declare module 'aedes-persistence-redis' {
  import type { Redis } from 'ioredis'
  interface RedisPersistenceOptions {
    conn?: Redis
    maxSessionDelivery?: number
    packetTTL?: (packet: unknown) => number
  }
  interface RedisPersistence {
    destroy(): Promise<void>
    addSubscriptions(client: unknown, subs: object, cb?: (err?: Error) => void): Promise<unknown> | undefined
  }
  function aedesPersistenceRedis(options?: RedisPersistenceOptions): RedisPersistence
  export default aedesPersistenceRedis
}
