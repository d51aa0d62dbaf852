import { EventEmitter } from 'node:events'
import { setTimeout as delay } from 'node:timers/promises'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import {
  DELIVERY,
  FutureCommandSchema,
  createCodec,
  deviceMessage,
  fleetMessage,
  type Codec,
  type CommandInput,
  type DecodeError,
  type Decoded,
  type DesiredBody,
  type FleetEventBody,
  type MessageInputOf,
} from '@liquid-edge/protocol'

export interface MqttLinkOptions {
  /** The broker, or the nodes of one cluster: MQTT.js tries them in turn, one per (re)connection. */
  urls: readonly string[]
  root: string
  clientId: string
  username?: string | undefined
  password?: string | undefined
  logger: Logger
}

export interface MqttLinkEvents {
  /** The connection to the broker came back (after the first): the broker may have lost its retained messages. */
  reconnected: []
  message: [Decoded]
  invalid: [DecodeError, string]
  error: [Error]
}

/** The controller's MQTT 3.1.1 session: subscribes to what devices publish, publishes desired/cmd/events. */
export class MqttLink extends EventEmitter<MqttLinkEvents> {
  readonly codec: Codec
  private closed = false
  private subscribed = false

  private constructor(
    private readonly client: MqttClient,
    root: string,
    private readonly logger: Logger,
  ) {
    super()
    this.codec = createCodec({ root })
    // Constructed after the first connect: every later one is a reconnect.
    client.on('connect', () => {
      if (this.subscribed) void this.resubscribe()
      this.emit('reconnected')
    })
    client.on('message', (topic, payload) => {
      if (payload.length === 0) return
      const r = this.codec.decode(topic, payload)
      if (r.ok) this.emit('message', r)
      else this.emit('invalid', r.error, topic)
    })
  }

  /** Whether the session to the broker is up now (it reconnects by itself). */
  get connected(): boolean {
    return this.client.connected
  }

  /** Connect (retrying until the broker answers); `subscribe` once the listeners are on. */
  static async connect(o: MqttLinkOptions): Promise<MqttLink> {
    // One URL keeps everything a URL can say (path, credentials); several become MQTT.js's rotation.
    const options: IClientOptions = {
      clientId: o.clientId,
      reconnectPeriod: 500,
      // The link subscribes again itself after a reconnect: MQTT.js drops a refused resubscription
      // silently, and a node of a NATS cluster refuses them for a while after another node died.
      resubscribe: false,
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(o.password === undefined ? {} : { password: o.password }),
    }
    const [only] = o.urls
    const client =
      o.urls.length === 1 && only !== undefined ? mqtt.connect(only, options) : mqtt.connect({ ...options, servers: o.urls.map(serverOf) })
    client.on('error', (err) => {
      o.logger.warn({ err }, 'mqtt error')
    })
    if (!client.connected) {
      await new Promise<void>((resolve) => {
        client.once('connect', () => {
          resolve()
        })
      })
    }
    return new MqttLink(client, o.root, o.logger)
  }

  /**
   * Subscribe to what devices publish (again after each reconnect, see `resubscribe`). The broker
   * sends every retained status and reported state at once, often in the same read as the SUBACK,
   * and MQTT.js emits them before the code awaiting the subscribe goes on: call this only when the
   * `message` listeners are on, or a restarted controller never learns what devices reported while
   * it was down (and waits for a device that finished long ago).
   */
  async subscribe(): Promise<void> {
    const t = this.codec.topics
    await this.client.subscribeAsync(
      [t.allDevices('status'), t.allDevices('reported'), t.allDevices('telemetry'), t.allDevices('reply'), t.allDevices('events')],
      { qos: 1 },
    )
    this.subscribed = true
  }

  /**
   * After a reconnect a refused subscription (SUBACK 0x80) is asked for again until granted or the
   * connection drops: a controller that gave up would stay connected and deaf to every device.
   */
  private async resubscribe(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.subscribe()
        if (attempt > 1) this.logger.info({ attempt }, 'subscriptions granted after a reconnect')
        return
      } catch (err) {
        if (this.closed || !this.client.connected) return
        this.logger.warn({ err, attempt }, 'subscriptions refused after a reconnect; asking again')
        await delay(Math.min(5000, 250 * attempt))
      }
    }
  }

  private async send(topic: string, bytes: Uint8Array, kind: keyof typeof DELIVERY): Promise<void> {
    const { qos, retain } = DELIVERY[kind]
    await this.client.publishAsync(topic, Buffer.from(bytes), { qos, retain })
  }

  async publishDesired(deviceId: string, body: MessageInputOf<'desired'>['body'] & Partial<DesiredBody>): Promise<void> {
    await this.send(this.codec.topics.desired(deviceId), this.codec.encode(deviceMessage('desired', deviceId, body)), 'desired')
  }

  /** Publish a command; resolves with its id (replies correlate on it). */
  async publishCommand(deviceId: string, body: CommandInput, id?: string): Promise<string> {
    const msg = deviceMessage('command', deviceId, body, id === undefined ? {} : { id })
    await this.send(this.codec.topics.cmd(deviceId), this.codec.encode(msg), 'cmd')
    return msg.id
  }

  /** Publish a command of a kind this protocol version does not define (how a device refuses one is in the contract). */
  async publishFutureCommand(deviceId: string, kind: string, id: string, expiresAt: number): Promise<void> {
    const message = FutureCommandSchema.parse({ v: 1, type: 'command', id, ts: Date.now(), deviceId, body: { kind, expiresAt } })
    await this.client.publishAsync(this.codec.topics.cmd(deviceId), JSON.stringify(message), DELIVERY.cmd)
  }

  /**
   * The retained message on `topic`, as a new subscriber gets it [MQTT-3.3.1-6] (retain flag set),
   * or null when none arrives within `windowMs`. A temporary exact subscription beside the
   * wildcard ones; it is removed afterwards.
   */
  async retained(topic: string, windowMs: number): Promise<Uint8Array | null> {
    let listener: ((t: string, payload: Buffer, packet: { retain: boolean }) => void) | undefined
    const found = new Promise<Uint8Array | null>((resolve) => {
      const timer = setTimeout(() => {
        resolve(null)
      }, windowMs)
      listener = (t, payload, packet) => {
        if (t !== topic || !packet.retain || payload.length === 0) return
        clearTimeout(timer)
        resolve(new Uint8Array(payload))
      }
      this.client.on('message', listener)
    })
    try {
      await this.client.subscribeAsync(topic, { qos: 1 })
      return await found
    } finally {
      if (listener !== undefined) this.client.off('message', listener)
      await this.client.unsubscribeAsync(topic).catch(() => undefined)
    }
  }

  async publishFleetEvent(body: MessageInputOf<'fleet-event'>['body']): Promise<void> {
    await this.send(this.codec.topics.fleetEvents(), this.codec.encode(fleetMessage(body)), 'fleet-events')
  }

  /** Clear a device's retained desired state (an empty retained payload [MQTT-3.3.1-10]). */
  async clearDesired(deviceId: string): Promise<void> {
    await this.client.publishAsync(this.codec.topics.desired(deviceId), Buffer.alloc(0), { qos: 1, retain: true })
  }

  /** Clear a device's retained topics with empty retained payloads [MQTT-3.3.1-10]. */
  async clearRetained(deviceId: string): Promise<void> {
    const t = this.codec.topics
    for (const topic of [t.desired(deviceId), t.reported(deviceId), t.status(deviceId)]) {
      await this.client.publishAsync(topic, Buffer.alloc(0), { qos: 1, retain: true })
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.client.endAsync()
  }
}

/** One of MQTT.js's `servers`, from a broker URL; TLS and credentials are options of the whole client. */
function serverOf(url: string): { host: string; port: number; protocol: 'mqtt' | 'mqtts' | 'ws' | 'wss' } {
  const u = new URL(url)
  const protocol =
    u.protocol === 'mqtts:' || u.protocol === 'ssl:'
      ? 'mqtts'
      : u.protocol === 'ws:' || u.protocol === 'wss:'
        ? (u.protocol.slice(0, -1) as 'ws' | 'wss')
        : 'mqtt'
  const port = u.port === '' ? { mqtt: 1883, mqtts: 8883, ws: 80, wss: 443 }[protocol] : Number(u.port)
  return { host: u.hostname, port, protocol }
}

export type { FleetEventBody }
