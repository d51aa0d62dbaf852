import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as z from 'zod'
import { FleetError, isFleetError, toErrorPayload } from '@liquid-edge/protocol'
import type { AgentMetrics } from './metrics.js'

/** What the local HTTP API needs from the agent. */
export interface HttpHost {
  infer(input: Float32Array): Promise<{ output: Float32Array; modelVersion: string; latencyMs: number }>
  health(): { status: 'ok' | 'degraded'; [key: string]: unknown }
  metrics: AgentMetrics
}

export interface LocalHttpServer {
  readonly url: string
  close(): Promise<void>
}

const MAX_BODY_BYTES = 1024 * 1024
const InferenceRequestSchema = z.object({ input: z.array(z.number()).min(1).max(1_000_000) })

function send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = type === 'application/json' ? JSON.stringify(body) : String(body)
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength
    if (size > MAX_BODY_BYTES) throw new FleetError('AGENT_INPUT_SHAPE', `request body over ${MAX_BODY_BYTES} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

async function inference(host: HttpHost, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let parsed
  try {
    parsed = InferenceRequestSchema.safeParse(JSON.parse(await readBody(req)))
  } catch (err) {
    host.metrics.refused.inc({ code: 'AGENT_INPUT_SHAPE' })
    send(res, 400, { error: { code: 'AGENT_INPUT_SHAPE', message: isFleetError(err) ? err.message : 'body is not valid JSON' } })
    return
  }
  if (!parsed.success) {
    host.metrics.refused.inc({ code: 'AGENT_INPUT_SHAPE' })
    send(res, 400, { error: { code: 'AGENT_INPUT_SHAPE', message: `expected {"input":[numbers]}: ${z.prettifyError(parsed.error)}` } })
    return
  }
  try {
    const r = await host.infer(Float32Array.from(parsed.data.input))
    send(res, 200, { output: Array.from(r.output), modelVersion: r.modelVersion, latencyMs: r.latencyMs })
  } catch (err) {
    const payload = toErrorPayload(err)
    const status = payload.code === 'AGENT_INPUT_SHAPE' ? 400 : payload.code === 'AGENT_NO_MODEL' ? 503 : 500
    if (status === 400) host.metrics.refused.inc({ code: payload.code })
    send(res, status, { error: payload })
  }
}

/**
 * The local API for applications on the device, on node:http: three routes do not need a
 * framework, and a device image stays smaller and starts faster without one.
 */
export async function startLocalHttp(host: HttpHost, port: number, hostname: string): Promise<LocalHttpServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    const route = `${req.method ?? 'GET'} ${path ?? '/'}`
    const handle = async (): Promise<void> => {
      if (route === 'POST /inference') return inference(host, req, res)
      if (route === 'GET /health') {
        const h = host.health()
        send(res, h.status === 'ok' ? 200 : 503, h)
        return
      }
      if (route === 'GET /metrics') {
        send(res, 200, await host.metrics.registry.metrics(), host.metrics.registry.contentType)
        return
      }
      send(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${route}` } })
    }
    handle().catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { error: toErrorPayload(err) })
    })
  })
  server.keepAliveTimeout = 5000
  server.listen(port, hostname)
  await once(server, 'listening')
  const addr = server.address() as AddressInfo
  let closing: Promise<void> | null = null
  return {
    url: `http://${hostname}:${addr.port}`,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => {
          resolve()
        })
        server.closeAllConnections()
      })),
  }
}
