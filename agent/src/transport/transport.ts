/** Topics an agent receives. */
export type InboundKind = 'desired' | 'cmd'
/** Topics an agent publishes. */
export type OutboundKind = 'reported' | 'reply' | 'status' | 'telemetry' | 'events'

/** What a transport calls back into the agent. */
export interface TransportHandlers {
  /** A payload arrived on the device's desired or cmd topic (not yet decoded). */
  message(kind: InboundKind, payload: Uint8Array): void
  /** The device is reachable: subscriptions are in place and its status is online. */
  connected(): void
  /** The connection was lost (the transport keeps reconnecting by itself). */
  disconnected(): void
  /** The next session number, persisted before it is used (status and Last Will carry it). */
  nextSession(): Promise<number>
  /** The encoded retained `status` message for this device; a gateway names itself in `extra.gateway`. */
  status(online: boolean, session: number, extra?: { gateway?: string }): Uint8Array
}

/**
 * The MQTT session of one device, separated from the agent's logic: either the device's own
 * connection ({@link createMqttTransport}) or a child of a shared gateway connection
 * ({@link createGatewaySession}). QoS and retain follow the protocol's `DELIVERY` table.
 */
export interface AgentTransport {
  readonly deviceId: string
  readonly connected: boolean
  /** Start connecting; resolves at once (connection happens in the background, forever). */
  start(handlers: TransportHandlers): Promise<void>
  /** Publish on one of the device's topics. Rejects when not connected or when the connection drops first. */
  publish(kind: OutboundKind, payload: Uint8Array, options?: { qos?: 0 | 1 }): Promise<void>
  /** Publish status offline (when connected) and disconnect. Idempotent. */
  close(): Promise<void>
}
