import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** What `/health` reports. `ready` is false while starting, draining or closed. */
export interface HealthReport {
  live: boolean
  ready: boolean
  brokerId: string
  clients: number
  persistence: 'memory' | 'redis'
  bridge: string
}

export interface OpsServer {
  readonly port: number
  close(): Promise<void>
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' })
  res.end(body)
}

/** HTTP `/health`, `/health/live`, `/health/ready` (JSON) and Prometheus `/metrics`. */
export async function startOpsServer(options: {
  port: number
  host: string
  metrics: { text(): Promise<string>; readonly registry: { contentType: string } }
  health: () => HealthReport
}): Promise<OpsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (req.method !== 'GET') {
      send(res, 405, 'text/plain', 'method not allowed\n')
      return
    }
    const report = options.health()
    if (path === '/metrics') {
      options.metrics.text().then(
        (text) => {
          send(res, 200, options.metrics.registry.contentType, text)
        },
        (err: unknown) => {
          send(res, 500, 'text/plain', `${String(err)}\n`)
        },
      )
    } else if (path === '/health' || path === '/health/ready') {
      send(res, report.ready ? 200 : 503, 'application/json', JSON.stringify(report))
    } else if (path === '/health/live') {
      send(res, report.live ? 200 : 503, 'application/json', JSON.stringify({ live: report.live }))
    } else {
      send(res, 404, 'text/plain', 'not found\n')
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      resolve()
    })
  })
  let closing: Promise<void> | undefined
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => {
          resolve()
        })
        server.closeAllConnections()
      })),
  }
}
