import { route, startHttpServer, type HttpServer } from '@liquid-edge/http'

/** What `/health` reports. `ready` is false while starting, draining or closed. */
export interface HealthReport {
  live: boolean
  ready: boolean
  brokerId: string
  clients: number
  persistence: 'memory' | 'redis'
  bridge: string
}

export type OpsServer = HttpServer

/** HTTP `/health`, `/health/live`, `/health/ready` (JSON) and Prometheus `/metrics`. */
export function startOpsServer(options: {
  port: number
  host: string
  metrics: { text(): Promise<string>; readonly registry: { contentType: string } }
  health: () => HealthReport
}): Promise<OpsServer> {
  const ready = () => {
    const report = options.health()
    return { status: report.ready ? 200 : 503, json: report }
  }
  return startHttpServer({
    port: options.port,
    host: options.host,
    headers: { 'cache-control': 'no-store' },
    routes: [
      route({ method: 'GET', path: '/health', handler: ready }),
      route({ method: 'GET', path: '/health/ready', handler: ready }),
      route({
        method: 'GET',
        path: '/health/live',
        handler: () => {
          const { live } = options.health()
          return { status: live ? 200 : 503, json: { live } }
        },
      }),
      route({
        method: 'GET',
        path: '/metrics',
        handler: async () => ({ text: await options.metrics.text(), contentType: options.metrics.registry.contentType }),
      }),
    ],
  })
}
