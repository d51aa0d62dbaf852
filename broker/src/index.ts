/**
 * @liquid-edge/broker — the embedded MQTT broker (aedes) where each device can only be itself:
 * authentication, ACL, payload validation and limits, Redis persistence and multi-node mode,
 * the NATS JetStream bridge, `/health` and `/metrics`.
 */
export { createBroker, LiquidBroker, type BrokerOptions, type BrokerEvents, type BrokerPorts } from './broker.js'
export {
  BrokerConfigSchema,
  brokerConfig,
  loadConfig,
  parseConfig,
  isLoopback,
  effectiveAppTopics,
  type BrokerConfig,
  type BrokerConfigInput,
} from './config.js'
export { MemoryCredentialStore, provisionCredential, type CredentialStore, type CredentialSpec } from './auth/credential-store.js'
export { FileCredentialStore } from './auth/file-store.js'
export { RedisCredentialStore, type RedisCredentialStoreOptions } from './auth/redis-store.js'
export { openCredentialStore } from './auth/open-store.js'
export { generateSecret, hashSecret, verifySecret, type ScryptParams } from './auth/scrypt.js'
export { FrameGuard } from './listeners/frame-guard.js'
export { TokenBucket } from './policy/token-bucket.js'
export { LoginLimiter, type LoginLimiterOptions, type LoginVerdict } from './auth/login-limiter.js'
export { AppTopics, AppTopicRuleSchema, parseAppTopicRules, type AppTopicRule } from './policy/app-topics.js'
export type { ClientStats } from './policy/session.js'
export type { Refusal, BridgeItem } from './policy/broker-policy.js'
export type { BridgeState } from './bridge/nats-bridge.js'
export type { HealthReport } from './ops/http.js'
export type { LoginRefusal, PublishRefusal } from './ops/metrics.js'
export { BrokerMetrics } from './ops/metrics.js'
export { systemClock, type Clock } from './clock.js'
