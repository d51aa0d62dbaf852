import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http'
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net'
import type { Duplex } from 'node:stream'
import { createServer as createTlsServer } from 'node:tls'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { BrokerConfig } from '../config.js'

/** Bound ports of the listeners that are on (port 0 in the config resolves to the real one here). */
export interface ListenerPorts {
  tcp?: number
  tls?: number
  ws?: number
}

export interface Listeners {
  readonly ports: ListenerPorts
  /** Stop accepting new connections (existing ones stay until the broker closes them). */
  stopAccepting(): void
  /** Resolves when every listener has closed. */
  closed(): Promise<void>
}

type Handle = (conn: Duplex, req?: IncomingMessage) => void

async function listen(server: Server | HttpServer, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return (server.address() as AddressInfo).port
}

/** Start the TCP, TLS and WebSocket listeners that the config switches on. */
export async function startListeners(config: BrokerConfig, handle: Handle): Promise<Listeners> {
  const servers: (Server | HttpServer)[] = []
  const ports: ListenerPorts = {}
  let wss: WebSocketServer | undefined
  try {
    if (config.tcp.enabled) {
      const tcp = createTcpServer((socket) => {
        handle(socket)
      })
      servers.push(tcp)
      ports.tcp = await listen(tcp, config.tcp.port, config.host)
    }
    if (config.tls.enabled && config.tls.certFile !== undefined && config.tls.keyFile !== undefined) {
      const ca = config.tls.caFile === undefined ? undefined : readFileSync(config.tls.caFile)
      const tls = createTlsServer(
        {
          cert: readFileSync(config.tls.certFile),
          key: readFileSync(config.tls.keyFile),
          ...(ca === undefined ? {} : { ca, requestCert: true, rejectUnauthorized: false }),
        },
        (socket) => {
          handle(socket)
        },
      )
      servers.push(tls)
      ports.tls = await listen(tls, config.tls.port, config.host)
    }
    if (config.ws.enabled) {
      const http = createHttpServer()
      wss = new WebSocketServer({ server: http, path: config.ws.path, maxPayload: config.limits.maxPacketBytes + 8 })
      wss.on('connection', (ws, req) => {
        handle(createWebSocketStream(ws), req)
      })
      servers.push(http)
      ports.ws = await listen(http, config.ws.port, config.host)
    }
  } catch (err) {
    for (const s of servers) s.close()
    throw err
  }
  const done = servers.map(
    (s) =>
      new Promise<void>((resolve) =>
        s.once('close', () => {
          resolve()
        }),
      ),
  )
  return {
    ports,
    stopAccepting() {
      wss?.close()
      for (const s of servers) if (s.listening) s.close()
    },
    async closed() {
      await Promise.all(done)
    },
  }
}
