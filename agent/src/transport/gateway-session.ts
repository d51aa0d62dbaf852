import type { MqttClient } from 'mqtt'
import { createTopics, DELIVERY } from '@liquid-edge/protocol'
import { pino, type Logger } from 'pino'
import { systemClock, type Clock } from '../ports.js'
import { MqttConnection, publishOn, type MqttConnectionOptions } from './mqtt-connection.js'
import { inboundKind } from './mqtt-transport.js'
import type { AgentTransport, TransportHandlers } from './transport.js'

export interface GatewaySessionOptions extends Omit<MqttConnectionOptions, 'clientId'> {
  /** The gateway's own device id (MQTT client id and username). */
  gatewayId: string
  root?: string
  clock?: Clock
  logger?: Logger
  /**
   * The gateway's own status: a session number per connection (persisted by the caller, growing)
   * and the encoded retained status, also its Last Will. Readers show the children offline while it
   * is. When omitted the gateway publishes no status of its own (and has no Last Will).
   */
  self?: {
    nextSession(): Promise<number>
    status(online: boolean, session: number): Uint8Array
  }
}

/** One shared MQTT connection that publishes and subscribes on behalf of child devices (STM32 gateways, simulated fleets). */
export interface GatewaySession {
  readonly connected: boolean
  /** A transport for one child device; its agent uses it like its own connection. */
  transportFor(childId: string): AgentTransport
  close(): Promise<void>
}

interface Child {
  handlers: TransportHandlers
  session: number
  up: boolean
}

/**
 * A gateway connection shared by many agents. Children announce themselves with a retained status
 * (`gateway` set) when attached and when the connection comes back; a child whose agent closes
 * publishes offline. The broker's ACL must allow the gateway its registered children.
 */
export function createGatewaySession(options: GatewaySessionOptions): GatewaySession {
  const topics = createTopics(options.root)
  const logger = options.logger ?? pino({ level: 'silent' })
  const children = new Map<string, Child>()
  const self = options.self
  let ownSession = 0

  async function attach(client: MqttClient, id: string, child: Child): Promise<void> {
    await client.subscribeAsync([topics.desired(id), topics.cmd(id)], { qos: 1 })
    await publishOn(client, topics.status(id), child.handlers.status(true, child.session, { gateway: options.gatewayId }), 1, true)
    child.up = true
    child.handlers.connected()
  }

  const conn = new MqttConnection(
    { ...options, clientId: options.gatewayId, ...(options.username === undefined ? { username: options.gatewayId } : {}) },
    {
      will: async () => {
        if (self === undefined) return null
        ownSession = await self.nextSession()
        return { topic: topics.status(options.gatewayId), payload: self.status(false, ownSession) }
      },
      up: async (client) => {
        if (self !== undefined) await publishOn(client, topics.status(options.gatewayId), self.status(true, ownSession), 1, true)
        // Each connection is a new session for every child too, so a child's statuses order as any device's do.
        await Promise.all(
          [...children].map(async ([id, child]) => {
            child.session = await child.handlers.nextSession()
            await attach(client, id, child)
          }),
        )
      },
      down: () => {
        for (const child of children.values()) {
          if (!child.up) continue
          child.up = false
          child.handlers.disconnected()
        }
      },
      message: (topic, payload) => {
        const parsed = topics.parse(topic)
        if (parsed === null || parsed.kind === 'fleet-events') return
        const child = children.get(parsed.deviceId)
        const kind = inboundKind(topics, parsed.deviceId, topic)
        if (child !== undefined && kind !== null) child.handlers.message(kind, payload)
      },
    },
    options.clock ?? systemClock,
    logger,
  )
  conn.start()

  function transportFor(childId: string): AgentTransport {
    topics.status(childId) // validates the id
    return {
      deviceId: childId,
      get connected() {
        return children.get(childId)?.up ?? false
      },
      async start(handlers) {
        const child: Child = { handlers, session: await handlers.nextSession(), up: false }
        children.set(childId, child)
        const client = conn.current
        if (client !== null)
          await attach(client, childId, child).catch((err: unknown) => {
            logger.warn({ err, childId }, 'attach failed')
          })
      },
      publish(kind, payload, opts = {}) {
        const client = conn.current
        if (client === null || children.get(childId)?.up !== true) return Promise.reject(new Error('not connected'))
        const d = DELIVERY[kind]
        return publishOn(client, topics.device(childId, kind), payload, opts.qos ?? d.qos, d.retain)
      },
      async close() {
        const child = children.get(childId)
        if (child === undefined) return
        children.delete(childId)
        const client = conn.current
        if (client === null) return
        await publishOn(
          client,
          topics.status(childId),
          child.handlers.status(false, child.session, { gateway: options.gatewayId }),
          1,
          true,
        ).catch(() => undefined)
        await client.unsubscribeAsync([topics.desired(childId), topics.cmd(childId)]).catch(() => undefined)
      },
    }
  }

  return {
    get connected() {
      return conn.connected
    },
    transportFor,
    close: () =>
      conn.close(async (client) => {
        if (self !== undefined) await publishOn(client, topics.status(options.gatewayId), self.status(false, ownSession), 1, true)
      }),
  }
}
