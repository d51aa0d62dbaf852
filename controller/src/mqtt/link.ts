import { EventEmitter } from 'node:events'
import mqtt, { type MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import {
  DELIVERY,
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
  url: string
  root: string
  clientId: string
  username?: string | undefined
  password?: string | undefined
  logger: Logger
}

export interface MqttLinkEvents {
  message: [Decoded]
  invalid: [DecodeError, string]
  error: [Error]
}

/** The controller's MQTT 3.1.1 session: subscribes to what devices publish, publishes desired/cmd/events. */
export class MqttLink extends EventEmitter<MqttLinkEvents> {
  readonly codec: Codec
  private closed = false

  private constructor(
    private readonly client: MqttClient,
    root: string,
  ) {
    super()
    this.codec = createCodec({ root })
    client.on('message', (topic, payload) => {
      if (payload.length === 0) return
      const r = this.codec.decode(topic, payload)
      if (r.ok) this.emit('message', r)
      else this.emit('invalid', r.error, topic)
    })
  }

  /** Connect (retrying until the broker answers) and subscribe. */
  static async connect(o: MqttLinkOptions): Promise<MqttLink> {
    const client = mqtt.connect(o.url, {
      clientId: o.clientId,
      reconnectPeriod: 500,
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(o.password === undefined ? {} : { password: o.password }),
    })
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
    const link = new MqttLink(client, o.root)
    const t = link.codec.topics
    await client.subscribeAsync(
      [t.allDevices('status'), t.allDevices('reported'), t.allDevices('telemetry'), t.allDevices('reply'), t.allDevices('events')],
      { qos: 1 },
    )
    return link
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

  async publishFleetEvent(body: MessageInputOf<'fleet-event'>['body']): Promise<void> {
    await this.send(this.codec.topics.fleetEvents(), this.codec.encode(fleetMessage(body)), 'fleet-events')
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

export type { FleetEventBody }
