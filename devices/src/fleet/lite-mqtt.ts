import { connect as connectTcp, type Socket } from 'node:net'
import { connect as connectTls } from 'node:tls'
import type { AgentTransport, OutboundKind, TransportHandlers } from '@liquid-edge/agent'
import { createTopics, DELIVERY, type Topics } from '@liquid-edge/protocol'
import mqttPacket, { type Packet } from 'mqtt-packet'

/**
 * How simulated devices reconnect (full agents and light sessions alike): from 500 ms doubling to
 * 15 s, ±50 % jitter. A controller in front of a simulated fleet gives them the longest wait,
 * {@link FLEET_RECONNECT_GRACE_MS}, to come back after a broker outage.
 */
export const FLEET_RECONNECT = Object.freeze({ minMs: 500, maxMs: 15_000 })
/** The longest a simulated device waits between reconnect attempts: `maxMs` with its +50 % jitter. */
export const FLEET_RECONNECT_GRACE_MS = FLEET_RECONNECT.maxMs * 1.5

export interface LiteMqttOptions {
  /** `mqtt://host:port` or `mqtts://host:port`. */
  url: string
  /** Topic root. @defaultValue 'lln/v1' */
  root?: string
  /** @defaultValue 60 */
  keepaliveS?: number
  /** New connections started per second, across every session of the hub. @defaultValue 500 */
  connectsPerS?: number
  /** Connections waiting for their CONNACK at once (a busy broker verifies credentials one by one). @defaultValue 32 */
  maxConnecting?: number
  /** First reconnect delay; doubles per failure up to `reconnectMaxMs`, with ±50 % jitter. @defaultValue 500 */
  reconnectMinMs?: number
  /** @defaultValue 15000 */
  reconnectMaxMs?: number
  /** Delay after the broker refused the CONNECT. @defaultValue 10000 */
  refusedDelayMs?: number
  /**
   * A connection that has not had its CONNACK and SUBACK after this long is dropped and retried.
   * Generous: a busy broker accepts slowly, and a client that gives up while it waits in the accept
   * queue leaves the broker a dead connection to accept instead of a live one. @defaultValue 120000
   */
  setupTimeoutMs?: number
  tls?: { ca?: string | Buffer; rejectUnauthorized?: boolean }
}

type Resolved = Required<Omit<LiteMqttOptions, 'tls'>> & Pick<LiteMqttOptions, 'tls'>

/** Loopback clients past this many share one source address, so that 100,000 do not run out of ephemeral ports. */
const PORTS_PER_SOURCE = 20_000
const TICK_MS = 1000

/**
 * Light MQTT 3.1.1 sessions for simulated fleets: one small object and one socket per device,
 * packets from `mqtt-packet` (MQTT.js's codec), and one timer for the whole hub that sends
 * keep-alives, drops dead links and paces new connections, instead of MQTT.js's per-client stores,
 * timers and streams. The wire behaviour is a device's: client id = username = device id, retained
 * status online on every connection with a Last Will offline, QoS 1 subscriptions to `desired` and `cmd`.
 */
export class LiteMqttHub {
  readonly #o: Resolved
  readonly #target: { host: string; port: number; secure: boolean }
  readonly #topics: Topics
  readonly #sessions = new Map<string, LiteSession>()
  readonly #queue: LiteSession[] = []
  #queueHead = 0
  #connecting = 0
  #credit = 0
  #ticks = 0
  #timer: NodeJS.Timeout
  #closed = false

  constructor(options: LiteMqttOptions) {
    this.#o = {
      root: 'lln/v1',
      keepaliveS: 60,
      connectsPerS: 500,
      maxConnecting: 32,
      reconnectMinMs: FLEET_RECONNECT.minMs,
      reconnectMaxMs: FLEET_RECONNECT.maxMs,
      refusedDelayMs: 10_000,
      setupTimeoutMs: 120_000,
      ...options,
    }
    const url = new URL(options.url)
    if (url.protocol !== 'mqtt:' && url.protocol !== 'tcp:' && url.protocol !== 'mqtts:')
      throw new Error(`light MQTT sessions speak mqtt:// and mqtts:// only, not ${url.protocol}`)
    const secure = url.protocol === 'mqtts:'
    this.#target = { host: url.hostname, port: Number(url.port || (secure ? 8883 : 1883)), secure }
    this.#topics = createTopics(this.#o.root)
    this.#timer = setInterval(() => {
      this.#tick()
    }, TICK_MS / 10)
  }

  get topics(): Topics {
    return this.#topics
  }

  /** Sessions connected now. */
  get connected(): number {
    let n = 0
    for (const s of this.#sessions.values()) if (s.connected) n++
    return n
  }

  /** The transport of one device; its connection starts (paced) when the agent starts it. */
  transportFor(deviceId: string, password?: string): AgentTransport {
    const index = this.#sessions.size
    const old = this.#sessions.get(deviceId)
    const s = new LiteSession(this, deviceId, password, index)
    if (old !== undefined) void old.close()
    this.#sessions.set(deviceId, s)
    return s
  }

  /** Cut a device's link abruptly (no DISCONNECT: the broker publishes its Last Will); it reconnects by itself. */
  drop(deviceId: string): boolean {
    const s = this.#sessions.get(deviceId)
    if (s === undefined) return false
    s.cut()
    return true
  }

  /** @internal */
  get options(): Resolved {
    return this.#o
  }

  /** @internal a socket to the broker; loopback clients spread over source addresses. */
  socket(index: number): Socket {
    const { host, port, secure } = this.#target
    const spread = Math.floor(index / PORTS_PER_SOURCE)
    const localAddress = host.startsWith('127.') && spread > 0 ? `127.0.${Math.floor(spread / 250)}.${2 + (spread % 250)}` : undefined
    const common = { host, port, ...(localAddress === undefined ? {} : { localAddress }) }
    const socket = secure ? connectTls({ ...common, servername: host, ...this.#o.tls }) : connectTcp(common)
    socket.setNoDelay(true)
    return socket
  }

  /** @internal queue a connection attempt; the hub's timer starts it when the pace allows. */
  enqueue(s: LiteSession): void {
    if (!this.#closed) this.#queue.push(s)
  }

  /** @internal */
  settled(): void {
    this.#connecting--
  }

  /** @internal */
  forget(s: LiteSession): void {
    if (this.#sessions.get(s.deviceId) === s) this.#sessions.delete(s.deviceId)
  }

  #tick(): void {
    const o = this.#o
    this.#credit = Math.min(this.#credit + (o.connectsPerS * TICK_MS) / 10_000, o.connectsPerS)
    while (this.#credit >= 1 && this.#connecting < o.maxConnecting && this.#queueHead < this.#queue.length) {
      const s = this.#queue[this.#queueHead++]
      if (s === undefined || !s.takeTurn()) continue
      this.#credit--
      this.#connecting++
      s.connect()
    }
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#queueHead)
      this.#queueHead = 0
    }
    // Connections are paced every tenth of a second; keep-alives need a sweep once a second only.
    if (++this.#ticks % 10 === 0) {
      const now = Date.now()
      for (const s of this.#sessions.values()) s.keepAlive(now)
    }
  }

  /** Close every session (status offline, DISCONNECT) and stop the timer. */
  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#timer)
    await Promise.all([...this.#sessions.values()].map((s) => s.close()))
  }
}

/** One device's light session; see {@link LiteMqttHub}. */
class LiteSession implements AgentTransport {
  readonly deviceId: string
  connected = false
  #hub: LiteMqttHub
  #password: string | undefined
  #index: number
  #handlers: TransportHandlers | null = null
  #socket: Socket | null = null
  #session = 0
  #nextId = 0
  #pending: Map<number, { resolve: () => void; reject: (err: Error) => void }> | null = null
  #lastOut = 0
  #lastIn = 0
  #pingAt = 0
  #attempt = 0
  #refused = false
  #closed = false
  #queued = false
  #setupUntil = 0
  #retry: NodeJS.Timeout | null = null

  constructor(hub: LiteMqttHub, deviceId: string, password: string | undefined, index: number) {
    this.#hub = hub
    this.deviceId = deviceId
    this.#password = password
    this.#index = index
  }

  /** @internal the hub's turn for this session: `false` when it no longer needs a connection. */
  takeTurn(): boolean {
    this.#queued = false
    return !this.#closed && this.#socket === null
  }

  start(handlers: TransportHandlers): Promise<void> {
    this.#handlers = handlers
    this.#schedule(0)
    return Promise.resolve()
  }

  #schedule(delayMs: number): void {
    if (this.#closed || this.#queued) return
    if (delayMs === 0) {
      this.#queued = true
      this.#hub.enqueue(this)
      return
    }
    this.#retry = setTimeout(() => {
      this.#retry = null
      this.#schedule(0)
    }, delayMs)
  }

  /** @internal called by the hub when the pace allows. */
  connect(): void {
    const h = this.#handlers
    if (h === null) {
      this.#hub.settled()
      return
    }
    let settled = false
    const settle = () => {
      if (!settled) this.#hub.settled()
      settled = true
    }
    h.nextSession().then(
      (session) => {
        if (this.#closed) {
          settle()
          return
        }
        this.#session = session
        this.#open(h, settle)
      },
      () => {
        settle()
        this.#schedule(this.#backoff())
      },
    )
  }

  #open(h: TransportHandlers, settle: () => void): void {
    const topics = this.#hub.topics
    const o = this.#hub.options
    const socket = this.#hub.socket(this.#index)
    this.#socket = socket
    this.#refused = false
    this.#setupUntil = Date.now() + o.setupTimeoutMs
    const parser = mqttPacket.parser({ protocolVersion: 4 })
    parser.on('packet', (p: Packet) => {
      this.#lastIn = Date.now()
      this.#onPacket(p, h, settle)
    })
    parser.on('error', () => socket.destroy())
    socket.on('data', (chunk: Buffer) => parser.parse(chunk))
    socket.on('error', () => undefined)
    socket.on('close', () => {
      settle()
      this.#onClose(socket)
    })
    this.#write({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: this.deviceId,
      clean: true,
      keepalive: o.keepaliveS,
      username: this.deviceId,
      ...(this.#password === undefined ? {} : { password: Buffer.from(this.#password) }),
      will: { topic: topics.status(this.deviceId), payload: Buffer.from(h.status(false, this.#session)), qos: 1, retain: true },
    })
  }

  #onPacket(p: Packet, h: TransportHandlers, settle: () => void): void {
    const topics = this.#hub.topics
    switch (p.cmd) {
      case 'connack':
        if (p.returnCode !== 0) {
          this.#refused = true
          this.#socket?.destroy()
          return
        }
        this.#attempt = 0
        this.connected = true
        settle()
        this.#request({
          cmd: 'subscribe',
          messageId: 0,
          subscriptions: [
            { topic: topics.desired(this.deviceId), qos: 1 },
            { topic: topics.cmd(this.deviceId), qos: 1 },
          ],
        })
          .then(() => this.#request(this.#publishPacket(topics.status(this.deviceId), h.status(true, this.#session), 1, true)))
          .then(
            () => {
              this.#setupUntil = 0
              h.connected()
            },
            () => this.#socket?.destroy(),
          )
        return
      case 'publish': {
        if (p.qos > 0 && p.messageId !== undefined) this.#write({ cmd: 'puback', messageId: p.messageId })
        const payload = typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload
        if (p.topic === topics.desired(this.deviceId)) h.message('desired', payload)
        else if (p.topic === topics.cmd(this.deviceId)) h.message('cmd', payload)
        return
      }
      case 'puback':
      case 'suback': {
        const id = p.messageId ?? -1
        const waiter = this.#pending?.get(id)
        this.#pending?.delete(id)
        waiter?.resolve()
        return
      }
      default:
        return
    }
  }

  #onClose(socket: Socket): void {
    if (this.#socket !== socket) return
    this.#socket = null
    const was = this.connected
    this.connected = false
    const pending = this.#pending
    this.#pending = null
    for (const w of pending?.values() ?? []) w.reject(new Error('connection closed before the publish completed'))
    if (was) this.#handlers?.disconnected()
    if (this.#closed) return
    const delay = this.#backoff()
    this.#schedule(this.#refused ? Math.max(delay, this.#hub.options.refusedDelayMs) : delay)
  }

  #backoff(): number {
    const o = this.#hub.options
    const base = Math.min(o.reconnectMaxMs, o.reconnectMinMs * 2 ** Math.min(this.#attempt++, 20))
    return base * (0.5 + Math.random())
  }

  #write(packet: Packet): void {
    const socket = this.#socket
    if (socket === null || socket.destroyed) return
    this.#lastOut = Date.now()
    socket.write(mqttPacket.generate(packet))
  }

  #publishPacket(topic: string, payload: Uint8Array, qos: 0 | 1, retain: boolean): Packet {
    const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
    return { cmd: 'publish', topic, payload: buf, qos, retain, dup: false, messageId: 0 }
  }

  /** Send a packet that the broker acknowledges (QoS 1 publish, subscribe) and wait for it. */
  #request(packet: Packet & { messageId?: number }): Promise<void> {
    if (this.#socket === null) return Promise.reject(new Error('not connected'))
    this.#nextId = (this.#nextId % 65_535) + 1
    const id = this.#nextId
    packet.messageId = id
    return new Promise<void>((resolve, reject) => {
      ;(this.#pending ??= new Map()).set(id, { resolve, reject })
      this.#write(packet)
    })
  }

  publish(kind: OutboundKind, payload: Uint8Array, options: { qos?: 0 | 1 } = {}): Promise<void> {
    if (!this.connected) return Promise.reject(new Error('not connected'))
    const d = DELIVERY[kind]
    const qos = options.qos ?? d.qos
    const packet = this.#publishPacket(this.#hub.topics.device(this.deviceId, kind), payload, qos === 0 ? 0 : 1, d.retain)
    if (qos === 0) {
      this.#write(packet)
      return Promise.resolve()
    }
    return this.#request(packet)
  }

  /** @internal the hub's sweep: keep-alive when idle, drop a link that went silent or never finished its setup. */
  keepAlive(now: number): void {
    const socket = this.#socket
    if (socket === null) return
    const keepaliveMs = this.#hub.options.keepaliveS * 1000
    if ((this.#setupUntil > 0 && now > this.#setupUntil) || (this.connected && now - this.#lastIn > keepaliveMs * 1.5)) {
      socket.destroy()
      return
    }
    // Ping when either direction went quiet: a device that only publishes QoS 0 hears nothing back,
    // and silence from the broker must be told apart from a dead link.
    const quiet = now - this.#lastOut > keepaliveMs / 2 || now - this.#lastIn > keepaliveMs / 2
    if (this.connected && quiet && now - this.#pingAt > keepaliveMs / 2) {
      this.#pingAt = now
      this.#write({ cmd: 'pingreq' })
    }
  }

  /** Cut the link abruptly; the session reconnects by itself. */
  cut(): void {
    this.#socket?.destroy()
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#retry !== null) clearTimeout(this.#retry)
    const socket = this.#socket
    if (socket !== null && !socket.destroyed && this.connected && this.#handlers !== null) {
      const status = this.#handlers.status(false, this.#session)
      await Promise.race([
        this.#request(this.#publishPacket(this.#hub.topics.status(this.deviceId), status, 1, true)).catch(() => undefined),
        new Promise((r) => setTimeout(r, 2000).unref()),
      ])
      this.#write({ cmd: 'disconnect' })
      const closed = new Promise((r) => socket.once('close', r))
      socket.end()
      await Promise.race([closed, new Promise((r) => setTimeout(r, 1000).unref())])
    }
    socket?.destroy()
    this.#hub.forget(this)
  }
}
