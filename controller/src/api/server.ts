import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { ArtifactStore } from '../models/artifact-store.js'
import type { Metrics } from './metrics.js'
import { openApiDocument } from './openapi.js'
import { authorize, errorBody, parseRequest, statusOf, type RouteDef } from './route.js'
import { apiRoutes, type RouteDeps } from './routes.js'

export interface ServerDeps extends RouteDeps {
  metrics: Metrics
  logger: Logger
  artifacts: ArtifactStore
}

const SHA = /^[0-9a-f]{64}$/

function register(app: FastifyInstance, d: ServerDeps, def: RouteDef): void {
  app.route({
    method: def.method,
    url: def.url,
    handler: async (req, reply) => {
      const end = d.metrics.apiLatency.startTimer({ method: def.method, route: def.url })
      try {
        await authorize(d.tokens, req, def.scope)
        const { body, query, params } = parseRequest(def, req)
        const result = await def.handler({ body, query, params, raw: req, reply })
        if (reply.statusCode === 200 && def.status !== undefined) void reply.code(def.status)
        end({ status: reply.statusCode })
        return result
      } catch (err) {
        const status = statusOf(err)
        if (status >= 500) d.logger.error({ err, route: def.url }, 'api request failed')
        end({ status })
        return reply.code(status).send(errorBody(err))
      }
    },
  })
}

/** Range header → byte range, or null when absent/unsatisfiable handling is the caller's. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'invalid' | null {
  if (header === undefined) return null
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (m === null) return 'invalid'
  const [, a = '', b = ''] = m
  if (a === '' && b === '') return 'invalid'
  const start = a === '' ? Math.max(0, size - Number(b)) : Number(a)
  const end = a === '' || b === '' ? size - 1 : Math.min(Number(b), size - 1)
  return start > end || start >= size ? 'invalid' : { start, end }
}

const CACHE_ITEM_BYTES = 8 * 1024 * 1024
const CACHE_TOTAL_BYTES = 128 * 1024 * 1024

/** Small artifacts stay in memory: a fleet downloads the same few files thousands of times. */
function artifactCache(artifacts: ArtifactStore) {
  const cache = new Map<string, Buffer>()
  let total = 0
  return async (sha: string, size: number): Promise<Buffer | null> => {
    if (size > CACHE_ITEM_BYTES) return null
    const hit = cache.get(sha)
    if (hit !== undefined) return hit
    const chunks: Buffer[] = []
    for await (const chunk of artifacts.read(sha)) chunks.push(chunk as Buffer)
    const buf = Buffer.concat(chunks)
    while (total + buf.byteLength > CACHE_TOTAL_BYTES && cache.size > 0) {
      const [oldest, b] = cache.entries().next().value as [string, Buffer]
      cache.delete(oldest)
      total -= b.byteLength
    }
    cache.set(sha, buf)
    total += buf.byteLength
    return buf
  }
}

function artifactRoute(app: FastifyInstance, artifacts: ArtifactStore): void {
  const cached = artifactCache(artifacts)
  app.get<{ Params: { sha: string } }>('/artifacts/:sha', async (req, reply) => {
    const { sha } = req.params
    const size = SHA.test(sha) ? await artifacts.size(sha) : null
    if (size === null) return reply.code(404).send({ error: { code: 'MODEL_NOT_FOUND', message: 'no such artifact' } })
    const etag = `"${sha}"`
    void reply.header('etag', etag).header('accept-ranges', 'bytes').header('cache-control', 'public, max-age=31536000, immutable')
    if (req.headers['if-none-match'] === etag) return reply.code(304).send()
    const ifRange = req.headers['if-range']
    const range = ifRange === undefined || ifRange === etag ? parseRange(req.headers.range, size) : null
    if (range === 'invalid') return reply.code(416).header('content-range', `bytes */${size}`).send()
    void reply.type('application/octet-stream')
    const buf = await cached(sha, size)
    if (range === null) return reply.header('content-length', size).send(buf ?? artifacts.read(sha))
    return reply
      .code(206)
      .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
      .header('content-length', range.end - range.start + 1)
      .send(buf === null ? artifacts.read(sha, range) : buf.subarray(range.start, range.end + 1))
  })
}

/** The controller's HTTP API (fastify 5). */
export async function buildServer(d: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 512 * 1024 * 1024 })
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => {
    done(null, body)
  })
  const routes = apiRoutes(d)
  for (const r of routes) register(app, d, r)
  const doc = openApiDocument(routes)
  app.get('/openapi.json', () => doc)
  app.get('/health', () => ({ ok: true }))
  app.get('/metrics', async (_req, reply) => reply.type(d.metrics.registry.contentType).send(await d.metrics.registry.metrics()))
  artifactRoute(app, d.artifacts)
  app.setErrorHandler((err, _req, reply) => {
    const status = typeof (err as { statusCode?: unknown }).statusCode === 'number' ? (err as { statusCode: number }).statusCode : 500
    void reply
      .code(status)
      .send({ error: { code: status < 500 ? 'API_INVALID_REQUEST' : 'INTERNAL', message: err instanceof Error ? err.message : 'error' } })
  })
  await app.ready()
  return app
}
