import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { Aedes } from 'aedes'
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt'
import { waitForEvent } from './wait.js'

export interface PlainBroker extends AsyncDisposable {
  readonly url: string
  readonly port: number
  readonly aedes: Aedes
  close(): Promise<void>
}

/**
 * A bare aedes broker (no auth, no ACL) on 127.0.0.1, port 0 — a real MQTT 3.1.1 broker for tests
 * of clients. Tests of the broker's own hooks use @liquid-edge/broker instead. `port`: listen on
 * that port instead (a broker restarted where its clients reconnect), with in-memory state only.
 */
export async function startPlainBroker(options: { port?: number } = {}): Promise<PlainBroker> {
  const aedes = await Aedes.createBroker()
  const server = createServer(aedes.handle)
  server.listen(options.port ?? 0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  let closed: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closed ??= (async () => {
      await new Promise<void>((resolve) => {
        aedes.close(() => {
          resolve()
        })
      })
      await new Promise<void>((resolve) =>
        server.close(() => {
          resolve()
        }),
      )
    })())
  return { url: `mqtt://127.0.0.1:${port}`, port, aedes, close, [Symbol.asyncDispose]: close }
}

/**
 * A connected MQTT.js client with `[Symbol.asyncDispose]`. Without `reconnectPeriod` it makes one
 * attempt and rejects when the broker closes the connection before its CONNACK (MQTT.js's
 * `connectAsync` would wait forever for an attempt it will not make); with one, it retries until
 * connected, as devices do.
 */
export async function connectClient(url: string, options: IClientOptions = {}): Promise<MqttClient & AsyncDisposable> {
  const retries = (options.reconnectPeriod ?? 0) > 0
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...options }, retries)
  return Object.assign(client, {
    [Symbol.asyncDispose]: async () => {
      await client.endAsync(true)
    },
  })
}

/** The next message on `client` whose topic matches exactly (or the predicate accepts), parsed as JSON. */
export function waitForMessage<T = unknown>(
  client: MqttClient,
  topic: string | ((topic: string) => boolean),
  predicate: (payload: T, topic: string) => boolean = () => true,
  options: { timeoutMs?: number } = {},
): Promise<{ topic: string; payload: T; retain: boolean }> {
  const matches = typeof topic === 'string' ? (t: string) => t === topic : topic
  return waitForEvent(
    (deliver) => {
      const onMessage = (t: string, buf: Buffer, packet: { retain: boolean }) => {
        if (!matches(t)) return
        let payload: T
        try {
          payload = JSON.parse(buf.toString('utf8')) as T
        } catch {
          return
        }
        if (predicate(payload, t)) deliver({ topic: t, payload, retain: packet.retain })
      }
      client.on('message', onMessage)
      return () => client.off('message', onMessage)
    },
    { ...options, what: `a message on ${typeof topic === 'string' ? topic : 'a matching topic'}` },
  )
}

/** A topic root no other test uses, e.g. `t-3f2a…/v1`. */
export function uniqueRoot(): string {
  return `t-${crypto.randomUUID().slice(0, 8)}/v1`
}
