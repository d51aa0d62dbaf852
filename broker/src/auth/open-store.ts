import type { BrokerConfig } from '../config.js'
import { MemoryCredentialStore, type CredentialStore } from './credential-store.js'
import { FileCredentialStore } from './file-store.js'
import { RedisCredentialStore } from './redis-store.js'

/** The credential store `config.credentials` names. */
export function openCredentialStore(config: BrokerConfig): CredentialStore {
  switch (config.credentials.store) {
    case 'memory':
      return new MemoryCredentialStore()
    case 'redis':
      return new RedisCredentialStore({ redis: config.redis.url, prefix: config.credentials.redisPrefix })
    default:
      return new FileCredentialStore(config.credentials.file)
  }
}
