import mqtt, { type MqttClient } from 'mqtt'
import type { Logger } from 'pino'
import type { Clock } from '../ports.js'

/** Connection settings shared by a device's own connection and a gateway's. */
export interface MqttConnectionOptions {
  /**
   * Broker URL, e.g. `mqtt://127.0.0.1:1883` or `mqtts://broker:8883`, or the URLs of the nodes of
   * one clustered broker: the first is tried first, and every new attempt (after a failure or a lost
   * connection) goes to the next one, round the list, so a device leaves a dead node at once.
   */
  url: string | readonly string[]
  /** MQTT client id; the broker requires username = client id = device (or gateway) id. */
  clientId: string
  username?: string
  password?: string
  /** @defaultValue 30 */
  keepaliveS?: number
  /** First reconnect delay; doubles per failure up to `reconnectMaxMs`, with ±50 % jitter. @defaultValue 1000 */
  reconnectMinMs?: number
  /** @defaultValue 60000 */
  reconnectMaxMs?: number
  /** Delay after the broker refused the CONNECT (bad credentials, banned): never flood. @defaultValue 30000 */
  refusedDelayMs?: number
  /** Extra MQTT.js options (TLS `ca`, `rejectUnauthorized`, …). */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean }
}

export interface ConnectionHooks {
  /** The Last Will for the next attempt (called before every attempt). */
  will(): Promise<{ topic: string; payload: Uint8Array } | null>
  /** Connected: subscribe and announce; resolve when done. */
  up(client: MqttClient): Promise<void>
  down(): void
  message(topic: string, payload: Buffer): void
}

/**
 * One MQTT connection that reconnects forever with exponential backoff and jitter. MQTT.js's own
 * reconnect is off (`reconnectPeriod: 0`) so that every attempt carries a fresh Last Will (with the
 * new session number) and a refused CONNECT waits `refusedDelayMs` instead of retrying at once.
 */
export class MqttConnection {
  private client: MqttClient | null = null
  private closed = false
  private attempt = 0
  /** Attempts made; picks the broker URL of the next one. */
  private attempts = 0
  private timer: unknown = null
  private wake: (() => void) | null = null
  connected = false
  private loopDone: Promise<void> = Promise.resolve()

  constructor(
    private readonly options: MqttConnectionOptions,
    private readonly hooks: ConnectionHooks,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  private isClosed(): boolean {
    return this.closed
  }

  start(): void {
    this.loopDone = this.loop()
  }

  get current(): MqttClient | null {
    return this.connected ? this.client : null
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      const refused = await this.once().catch((err: unknown) => {
        this.logger.warn({ err }, 'mqtt connection attempt failed')
        return false
      })
      if (this.isClosed()) break
      const o = this.options
      const base = Math.min(o.reconnectMaxMs ?? 60_000, (o.reconnectMinMs ?? 1000) * 2 ** Math.min(this.attempt, 20))
      let delay = base * (0.5 + Math.random())
      if (refused) delay = Math.max(delay, o.refusedDelayMs ?? 30_000)
      this.attempt++
      this.logger.info({ delayMs: Math.round(delay), attempt: this.attempt, refused }, 'mqtt reconnecting')
      await new Promise<void>((resolve) => {
        this.wake = resolve
        this.timer = this.clock.setTimeout(resolve, delay)
      })
      this.wake = null
    }
  }

  /** One connection's life. Resolves when it is over: `true` when the broker refused the CONNECT. */
  private async once(): Promise<boolean> {
    const will = await this.hooks.will()
    if (this.isClosed()) return false
    const o = this.options
    const urls = typeof o.url === 'string' ? [o.url] : o.url
    const url = urls[this.attempts++ % urls.length] ?? ''
    const client = mqtt.connect(url, {
      clientId: o.clientId,
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(o.password === undefined ? {} : { password: o.password }),
      ...o.tls,
      protocolVersion: 4,
      clean: true,
      keepalive: o.keepaliveS ?? 30,
      reconnectPeriod: 0,
      connectTimeout: 15_000,
      ...(will === null ? {} : { will: { topic: will.topic, payload: Buffer.from(will.payload), qos: 1, retain: true } }),
    })
    client.setMaxListeners(0)
    this.client = client
    let refused = false
    client.on('message', (topic, payload) => {
      this.hooks.message(topic, payload)
    })
    client.on('error', (err) => {
      if ('code' in err && typeof err.code === 'number') refused = true
      this.logger.warn({ err }, 'mqtt error')
    })
    await new Promise<void>((resolve) => {
      client.once('connect', () => {
        this.logger.info({ broker: url.replace(/\/\/[^@/]*@/, '//') }, 'mqtt connected')
        this.attempt = 0
        this.connected = true
        this.hooks.up(client).catch((err: unknown) => {
          this.logger.warn({ err }, 'mqtt session setup failed')
          client.end(true)
        })
      })
      client.once('close', () => {
        resolve()
      })
    })
    const wasConnected = this.connected
    this.connected = false
    client.removeAllListeners('message')
    client.end(true)
    if (wasConnected) this.hooks.down()
    return refused
  }

  /** Stop reconnecting; `last` runs on the live connection (publish offline) before it is closed. */
  async close(last?: (client: MqttClient) => Promise<void>): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.clock.clearTimeout(this.timer)
    this.wake?.()
    const client = this.client
    if (client !== null) {
      if (this.connected && last !== undefined) await last(client).catch(() => undefined)
      this.connected = false
      await client.endAsync(true).catch(() => undefined)
    }
    await this.loopDone
  }
}

/** Publish and wait for the PUBACK, or reject when the connection closes first. */
export function publishOn(client: MqttClient, topic: string, payload: Uint8Array, qos: 0 | 1, retain: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onClose = (): void => {
      reject(new Error('connection closed before the publish completed'))
    }
    client.once('close', onClose)
    client.publish(topic, Buffer.from(payload), { qos, retain }, (err) => {
      client.removeListener('close', onClose)
      if (err) reject(err)
      else resolve()
    })
  })
}
