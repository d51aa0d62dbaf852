import { once } from 'node:events'
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net'

/**
 * The client id of an MQTT 3.1.1/5 CONNECT packet at the start of `buf`, `undefined` when more
 * bytes are needed, `null` when it is not a CONNECT.
 */
export function connectClientId(buf: Buffer): string | null | undefined {
  if (buf.length < 2) return undefined
  if (buf[0] !== 0x10) return null
  let at = 1
  let length = 0
  for (let shift = 0; ; shift += 7) {
    const byte = buf[at++]
    if (byte === undefined) return undefined
    length += (byte & 0x7f) << shift
    if ((byte & 0x80) === 0) break
    if (shift > 21) return null
  }
  if (buf.length < at + length) return undefined
  const nameLength = buf.readUInt16BE(at)
  at += 2 + nameLength
  const level = buf[at]
  at += 4 // level, flags, keepalive
  if (level === 5) {
    let props = 0
    for (let shift = 0; ; shift += 7) {
      const byte = buf[at++] ?? 0
      props += (byte & 0x7f) << shift
      if ((byte & 0x80) === 0) break
    }
    at += props
  }
  const idLength = buf.readUInt16BE(at)
  return buf.subarray(at + 2, at + 2 + idLength).toString('utf8')
}

/**
 * A TCP relay between simulated devices and the broker that knows which device each connection
 * belongs to (from its MQTT CONNECT), so a fleet can cut one device's link abruptly — the broker
 * then publishes its Last Will, exactly as when a real link drops (flapping, crashes).
 */
export class LinkProxy {
  readonly #server: Server
  readonly #target: { host: string; port: number }
  readonly #links = new Map<string, Set<Socket>>()
  #closed = false

  private constructor(server: Server, target: { host: string; port: number }) {
    this.#server = server
    this.#target = target
    server.on('connection', (socket) => {
      this.#accept(socket)
    })
  }

  /** Listen on 127.0.0.1 (port 0) in front of `brokerUrl` (`mqtt://host:port`). */
  static async start(brokerUrl: string): Promise<LinkProxy> {
    const url = new URL(brokerUrl)
    if (url.protocol !== 'mqtt:' && url.protocol !== 'tcp:')
      throw new Error(`the link proxy relays plain mqtt:// only, not ${url.protocol}`)
    const server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    return new LinkProxy(server, { host: url.hostname, port: Number(url.port || 1883) })
  }

  get url(): string {
    return `mqtt://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
  }

  /** Cut every current connection of a device (the device reconnects by itself). */
  drop(deviceId: string): number {
    const sockets = this.#links.get(deviceId)
    if (sockets === undefined) return 0
    for (const s of sockets) s.destroy()
    return sockets.size
  }

  #accept(client: Socket): void {
    let head = Buffer.alloc(0)
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk])
      const id = connectClientId(head)
      if (id === undefined && head.length < 65_536) return
      client.off('data', onData)
      if (id === null || id === undefined) {
        client.destroy()
        return
      }
      this.#relay(client, id, head)
    }
    client.on('data', onData)
    client.on('error', () => undefined)
  }

  #relay(client: Socket, deviceId: string, head: Buffer): void {
    const upstream = connect(this.#target.port, this.#target.host)
    let set = this.#links.get(deviceId)
    if (set === undefined) this.#links.set(deviceId, (set = new Set()))
    const sockets = set
    sockets.add(client)
    upstream.write(head)
    client.pipe(upstream)
    upstream.pipe(client)
    const done = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      if (sockets.size === 0 && this.#links.get(deviceId) === sockets) this.#links.delete(deviceId)
    }
    client.on('close', done)
    upstream.on('close', done)
    upstream.on('error', () => undefined)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const id of [...this.#links.keys()]) this.drop(id)
    await new Promise<void>((resolve) => {
      this.#server.close(() => {
        resolve()
      })
    })
  }
}
