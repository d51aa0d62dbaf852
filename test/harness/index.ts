/** Shared test harness: waiting without sleeps, real brokers on port 0, isolated Redis prefixes. */
export { waitFor, waitForEvent, type WaitOptions } from './wait.js'
export { startPlainBroker, connectClient, waitForMessage, uniqueRoot, type PlainBroker } from './mqtt.js'
export { REDIS_URL, uniquePrefix, redisClient, deleteKeys } from './redis.js'
export { MOSQUITTO_URL, NATS_URL } from './services.js'
export { FakeDevice, startFakeDevices, type FakeBehaviour, type FakeDeviceOptions } from './fake-device.js'
export { startTestBroker, provisionTestCredential, credentialOptions, TEST_SCRYPT_PARAMS, type TestBroker } from './broker.js'
export { FakeDriver, fakeModelBytes, runFakeModel, type FakeDriverOptions, type FakeFaults, type FakeModelSpec } from './fake-driver.js'
export {
  buildFakePackage,
  opaquePackage,
  publisherKeyPair,
  startArtifactServer,
  type ArtifactServer,
  type FakePackage,
  type FakePackageOptions,
  type OpaquePackageOptions,
} from './agent.js'
export { startAgentFleet, startAgents, type AgentFleet, type AgentFleetOptions, type Agents, type FleetDeviceSpec } from './runbook.js'
export { startTcpProxy, type TcpProxy } from './tcp-proxy.js'
export {
  accepts,
  freePort,
  openFileLimit,
  startMosquitto,
  startNatsMqttServer,
  startNatsServer,
  startRedisServer,
  type ChildServer,
} from './servers.js'
export { startNatsCluster, type NatsCluster, type NatsClusterOptions, type NatsNode } from './nats-cluster.js'
