/** @liquid-edge/agent — the device runtime. Drivers implement the ports declared here. */
export { Agent } from './agent.js'
export { createAgent } from './create-agent.js'
export type { AgentEvents } from './events.js'
export { AgentSettingsSchema, type AgentOptions, type AgentSettings } from './options.js'
export {
  systemClock,
  type SlotName,
  type ModelImage,
  type InferenceResult,
  type SensorReadings,
  type SelfTestResult,
  type DeviceDriver,
  type Clock,
  type ArtifactFetcher,
  type ArtifactRequest,
  type StateStore,
} from './ports.js'
export type { AgentTransport, TransportHandlers, InboundKind, OutboundKind } from './transport/transport.js'
export type { MqttConnectionOptions } from './transport/mqtt-connection.js'
export { createMqttTransport, type MqttTransportOptions } from './transport/mqtt-transport.js'
export { createGatewaySession, type GatewaySession, type GatewaySessionOptions } from './transport/gateway-session.js'
export { createHttpFetcher, type HttpFetcherOptions } from './update/http-fetcher.js'
export { createFileStateStore, createMemoryStateStore, writeFileAtomic } from './state/file-state-store.js'
export type { OutsideSamples } from './telemetry/window.js'
