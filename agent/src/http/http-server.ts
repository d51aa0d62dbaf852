import * as z from 'zod'
import { route, startHttpServer, type HttpServer } from '@liquid-edge/http'
import type { AgentMetrics } from './metrics.js'

/** What the local HTTP API needs from the agent. */
export interface HttpHost {
  infer(input: Float32Array): Promise<{ output: Float32Array; modelVersion: string; latencyMs: number }>
  health(): { status: 'ok' | 'degraded'; [key: string]: unknown }
  metrics: AgentMetrics
}

export type LocalHttpServer = HttpServer

const InferenceRequestSchema = z.object({ input: z.array(z.number()).min(1).max(1_000_000) })

/**
 * The local API for applications on the device: `POST /inference {"input":[…]}`, `GET /health`
 * (503 when degraded), `GET /metrics`. A body that is not `{"input":[numbers]}` is
 * `AGENT_INPUT_SHAPE` (400), as is an input of the wrong length; no model is 503.
 */
export function startLocalHttp(host: HttpHost, port: number, hostname: string): Promise<LocalHttpServer> {
  return startHttpServer({
    port,
    host: hostname,
    invalidCode: 'AGENT_INPUT_SHAPE',
    onRefused: (code) => {
      host.metrics.refused.inc({ code })
    },
    statusOf: (err) => (err.code === 'AGENT_INPUT_SHAPE' ? 400 : err.code === 'AGENT_NO_MODEL' ? 503 : 500),
    routes: [
      route({
        method: 'POST',
        path: '/inference',
        body: InferenceRequestSchema,
        handler: async ({ body }) => {
          const r = await host.infer(Float32Array.from(body.input))
          return { json: { output: Array.from(r.output), modelVersion: r.modelVersion, latencyMs: r.latencyMs } }
        },
      }),
      route({
        method: 'GET',
        path: '/health',
        handler: () => {
          const h = host.health()
          return { status: h.status === 'ok' ? 200 : 503, json: h }
        },
      }),
      route({
        method: 'GET',
        path: '/metrics',
        handler: async () => ({ text: await host.metrics.registry.metrics(), contentType: host.metrics.registry.contentType }),
      }),
    ],
  })
}
