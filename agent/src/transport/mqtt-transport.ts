import { createTopics, DELIVERY, type Topics } from '@liquid-edge/protocol'
import { pino, type Logger } from 'pino'
import { systemClock, type Clock } from '../ports.js'
import { MqttConnection, publishOn, type MqttConnectionOptions } from './mqtt-connection.js'
import type { AgentTransport, InboundKind, OutboundKind, TransportHandlers } from './transport.js'

export interface MqttTransportOptions extends Omit<MqttConnectionOptions, 'clientId'> {
  deviceId: string
  /** Topic root. @defaultValue 'lln/v1' */
  root?: string
  clock?: Clock
  logger?: Logger
}

/** Route an inbound topic of `deviceId` to its kind, or `null`. */
export function inboundKind(topics: Topics, deviceId: string, topic: string): InboundKind | null {
  if (topic === topics.desired(deviceId)) return 'desired'
  if (topic === topics.cmd(deviceId)) return 'cmd'
  return null
}

/**
 * The device's own MQTT connection: client id = username = device id, retained `status` online
 * on every connection and a Last Will offline, both with the session number.
 */
export function createMqttTransport(options: MqttTransportOptions): AgentTransport {
  const topics = createTopics(options.root)
  const { deviceId } = options
  const logger = options.logger ?? pino({ level: 'silent' })
  let handlers: TransportHandlers | null = null
  let session = 0
  const conn = new MqttConnection(
    { ...options, clientId: deviceId, ...(options.username === undefined ? { username: deviceId } : {}) },
    {
      will: async () => {
        if (handlers === null) return null
        session = await handlers.nextSession()
        return { topic: topics.status(deviceId), payload: handlers.status(false, session) }
      },
      up: async (client) => {
        if (handlers === null) return
        await client.subscribeAsync([topics.desired(deviceId), topics.cmd(deviceId)], { qos: 1 })
        await publishOn(client, topics.status(deviceId), handlers.status(true, session), 1, true)
        handlers.connected()
      },
      down: () => handlers?.disconnected(),
      message: (topic, payload) => {
        const kind = inboundKind(topics, deviceId, topic)
        if (kind !== null) handlers?.message(kind, payload)
      },
    },
    options.clock ?? systemClock,
    logger,
  )
  return {
    deviceId,
    get connected() {
      return conn.connected
    },
    start(h) {
      handlers = h
      conn.start()
      return Promise.resolve()
    },
    publish(kind: OutboundKind, payload, opts = {}) {
      const client = conn.current
      if (client === null) return Promise.reject(new Error('not connected'))
      const d = DELIVERY[kind]
      return publishOn(client, topics.device(deviceId, kind), payload, opts.qos ?? d.qos, d.retain)
    },
    close() {
      return conn.close(async (client) => {
        if (handlers !== null) await publishOn(client, topics.status(deviceId), handlers.status(false, session), 1, true)
      })
    },
  }
}
