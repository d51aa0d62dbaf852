import { once } from 'node:events'
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net'

/** A TCP proxy in front of a broker that a test can cut (the device goes offline) and restore. */
export interface TcpProxy extends AsyncDisposable {
  readonly url: string
  readonly port: number
  cut(): void
  restore(): void
  close(): Promise<void>
}

/**
 * Start a proxy on a free port to `target`: one port, or the ports of several replicas (a load
 * balancer in front of them), tried in turn from a different one each connection until one
 * accepts, so a dead replica is skipped.
 */
export async function startTcpProxy(target: number | (() => readonly number[])): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  let open = true
  let next = 0
  const ports = typeof target === 'number' ? () => [target] : target
  const server = createServer((client) => {
    if (!open) {
      client.destroy()
      return
    }
    client.pause()
    client.on('error', () => client.destroy())
    sockets.add(client)
    const candidates = ports()
    const start = next++
    const attempt = (i: number): void => {
      const port = candidates[(start + i) % candidates.length]
      if (i >= candidates.length || port === undefined || client.destroyed) {
        client.destroy()
        sockets.delete(client)
        return
      }
      const upstream = createConnection(port, '127.0.0.1')
      const refused = (): void => {
        upstream.destroy()
        attempt(i + 1)
      }
      upstream.once('error', refused)
      upstream.once('connect', () => {
        upstream.off('error', refused)
        sockets.add(upstream)
        const drop = (): void => {
          client.destroy()
          upstream.destroy()
          sockets.delete(client)
          sockets.delete(upstream)
        }
        client.on('error', drop).on('close', drop)
        upstream.on('error', drop).on('close', drop)
        client.pipe(upstream).pipe(client)
        client.resume()
      })
    }
    attempt(0)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const close = (): Promise<void> => {
    for (const s of sockets) s.destroy()
    return new Promise<void>((resolve) => {
      server.close(() => {
        resolve()
      })
    })
  }
  const { port } = server.address() as AddressInfo
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    cut() {
      open = false
      for (const s of sockets) s.destroy()
    },
    restore() {
      open = true
    },
    close,
    [Symbol.asyncDispose]: close,
  }
}
