import { createServer } from 'node:http'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { serveConsole } from '../console/assets.js'
import type { LiveHub } from '../console/live-hub.js'
import type { ArtifactStore } from '../models/artifact-store.js'
import { FleetError } from '@liquid-edge/protocol'
import { installGuard, refuse, type Access, type ApiLimits } from './guard.js'
import type { Metrics } from './metrics.js'
import { openApiDocument } from './openapi.js'
import { errorBody, parseRequest, statusOf, type RouteDef } from './route.js'
import { apiRoutes, type RouteDeps } from './routes.js'
import { receiveUploads } from './upload.js'

export interface ServerDeps extends RouteDeps {
  metrics: Metrics
  logger: Logger
  artifacts: ArtifactStore
  /** Body sizes and times, request rates (see {@link ApiLimits}). */
  limits: ApiLimits
  /** Where model uploads are received (a directory of their own). */
  uploadDir: string
  /** The web console: its built files (null: not built) and the hub of its live streams. */
  console?: { dir: string | null; hub: LiveHub }
}

const SHA = /^[0-9a-f]{64}$/

const PUBLIC = { config: { access: 'public' as Access } }

function register(app: FastifyInstance, d: ServerDeps, def: RouteDef): void {
  const upload = def.body === 'binary'
  app.route({
    method: def.method,
    url: def.url,
    // Checked by the guard before the body is read; an upload gets its own size and time.
    config: {
      access: def.scope === null ? 'public' : { scope: def.scope },
      ...(upload ? { bodyTimeoutMs: d.limits.uploadTimeoutMs } : {}),
    },
    ...(upload ? { bodyLimit: d.limits.uploadLimitBytes } : {}),
    handler: async (req, reply) => {
      const end = d.metrics.apiLatency.startTimer({ method: def.method, route: def.url })
      try {
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

/** A fastify error (parsing, limits, deadlines) as the API's error. */
function apiError(err: unknown): FleetError | null {
  const status = (err as { statusCode?: unknown }).statusCode
  const message = err instanceof Error ? err.message : 'invalid request'
  if (status === 413) return new FleetError('API_BODY_TOO_LARGE', message)
  if (status === 408) return new FleetError('API_TIMEOUT', message)
  if (typeof status === 'number' && status >= 400 && status < 500) return new FleetError('API_INVALID_REQUEST', message)
  return null
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
  app.get<{ Params: { sha: string } }>('/artifacts/:sha', PUBLIC, async (req, reply) => {
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

/**
 * The controller's HTTP API (fastify 5). Every request passes the guard before its body is read
 * (`guard.ts`): rate limits, the route's access, then a body within the route's size and time.
 */
export async function buildServer(d: ServerDeps): Promise<FastifyInstance> {
  const { limits } = d
  const app = Fastify({
    logger: false,
    bodyLimit: limits.bodyLimitBytes,
    // Node checks its request deadlines every second rather than every 30 s.
    serverFactory: (handler) =>
      createServer(
        {
          headersTimeout: limits.headersTimeoutMs,
          requestTimeout: limits.uploadTimeoutMs + limits.headersTimeoutMs,
          connectionsCheckingInterval: 1000,
        },
        handler,
      ),
  })
  // Before any route: a route keeps the error handler in place when it is registered.
  app.setErrorHandler((err, req, reply) => {
    const known = apiError(err)
    if (known === null) {
      d.logger.error({ err, url: req.url }, 'api request failed')
      return reply.code(500).send({ error: { code: 'INTERNAL', message: 'internal error' } })
    }
    if (known.code !== 'API_INVALID_REQUEST') d.metrics.apiRefused.inc({ code: known.code })
    return refuse(req, reply, known)
  })
  installGuard(app, { tokens: d.tokens, limits, metrics: d.metrics })
  await receiveUploads(app, d.uploadDir)
  const routes = apiRoutes(d)
  for (const r of routes) register(app, d, r)
  const doc = openApiDocument(routes)
  app.get('/openapi.json', PUBLIC, () => doc)
  app.get('/health', PUBLIC, () => ({ ok: true }))
  app.get('/metrics', PUBLIC, async (_req, reply) => reply.type(d.metrics.registry.contentType).send(await d.metrics.registry.metrics()))
  artifactRoute(app, d.artifacts)
  if (d.console !== undefined) {
    const { hub, dir } = d.console
    // The console's page and files are public (the page asks for a token); its data routes are not.
    await app.register(async (scope) => {
      scope.addHook('onRoute', (route) => {
        route.config = { ...route.config, access: 'public' }
      })
      await serveConsole(scope, dir)
    })
    // Open event streams would keep the server from closing.
    app.addHook('preClose', () => hub.close())
  }
  await app.ready()
  return app
}
