/**
 * One HTTP server alone in a process, as a device would run it: `/health` (answering the process's
 * RSS), `/metrics` (a prom-client registry) and `POST /inference` (a zod-validated JSON body).
 * argv[2]: `node-http` (hand-written, the baseline), `toolkit` (@liquid-edge/http) or `fastify`.
 * Prints one JSON line `{port, startMs}` when listening (start: from after protocol, zod and
 * prom-client are loaded, which the agent loads anyway).
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Registry, collectDefaultMetrics } from 'prom-client'
import * as z from 'zod'
// Loaded in every variant, as in the agent that serves these routes: the toolkit's own cost is what it adds.
import '@liquid-edge/protocol'

const t0 = performance.now()
const impl = process.argv[2] ?? 'node-http'
const registry = new Registry()
collectDefaultMetrics({ register: registry })
const Body = z.object({ input: z.array(z.number()).min(1).max(1_000_000) })
const infer = (input: number[]) => ({ output: input.map((x) => x * 2 + 1), modelVersion: '1.0.0', latencyMs: 0.01 })
const health = () => ({ status: 'ok', rss: process.memoryUsage().rss })

async function nodeHttp(): Promise<number> {
  const server = createServer((req, res) => {
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) })
      res.end(body)
    }
    if (req.method === 'GET' && req.url === '/health') {
      send(200, JSON.stringify(health()))
      return
    }
    if (req.method === 'GET' && req.url === '/metrics') {
      void registry.metrics().then((m) => {
        send(200, m, registry.contentType)
      })
      return
    }
    if (req.method === 'POST' && req.url === '/inference') {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const parsed = Body.safeParse(JSON.parse(Buffer.concat(chunks).toString('utf8')))
        if (!parsed.success) {
          send(400, '{"error":"bad input"}')
          return
        }
        send(200, JSON.stringify(infer(parsed.data.input)))
      })
      return
    }
    send(404, '{}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

async function toolkit(): Promise<number> {
  const { route, startHttpServer } = await import('@liquid-edge/http')
  const server = await startHttpServer({
    port: 0,
    routes: [
      route({ method: 'GET', path: '/health', handler: () => ({ json: health() }) }),
      route({
        method: 'GET',
        path: '/metrics',
        handler: async () => ({ text: await registry.metrics(), contentType: registry.contentType }),
      }),
      route({ method: 'POST', path: '/inference', body: Body, handler: ({ body }) => ({ json: infer(body.input) }) }),
    ],
  })
  return server.port
}

async function fastify(): Promise<number> {
  const { default: Fastify } = await import('fastify')
  const app = Fastify({ bodyLimit: 1024 * 1024 })
  app.get('/health', () => health())
  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()))
  app.post('/inference', (req, reply) => {
    const parsed = Body.safeParse(req.body)
    if (!parsed.success) return reply.code(400).send({ error: 'bad input' })
    return infer(parsed.data.input)
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return (app.server.address() as AddressInfo).port
}

const port = await (impl === 'fastify' ? fastify() : impl === 'toolkit' ? toolkit() : nodeHttp())
process.stdout.write(`${JSON.stringify({ port, startMs: performance.now() - t0 })}\n`)
