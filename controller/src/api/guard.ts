import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { PassThrough, type Readable } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { FleetError } from '@liquid-edge/protocol'
import type { Metrics } from './metrics.js'
import { RateLimiter, type Rate } from './rate-limit.js'
import { authorize, errorBody, statusOf } from './route.js'
import type { Scope, TokenStore } from './tokens.js'

/** Who may call a route: anyone, or a bearer token with a scope. */
export type Access = 'public' | { scope: Scope }

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route. A route that declares nothing needs an admin token. */
    access?: Access
    /** How long the route's request body may take to arrive. @defaultValue `ApiLimits.bodyTimeoutMs` */
    bodyTimeoutMs?: number
  }
}

/** What the API accepts before it refuses: sizes, times and rates. */
export interface ApiLimits {
  /** Largest JSON body (every route but model uploads). */
  bodyLimitBytes: number
  /** Largest model upload (streamed to disk). */
  uploadLimitBytes: number
  /** Time for a JSON body to arrive once the headers have. */
  bodyTimeoutMs: number
  /** Time for a model upload to arrive. */
  uploadTimeoutMs: number
  /** Time for the request headers to arrive. */
  headersTimeoutMs: number
  /** Requests per address (before authentication) and per token; `perSec: 0` turns one off. */
  perAddress: Rate
  perToken: Rate
}

export interface GuardOptions {
  tokens: TokenStore
  limits: ApiLimits
  metrics: Metrics
  now?: () => number
}

function hasBody(req: FastifyRequest): boolean {
  const length = req.headers['content-length']
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/** How long a refused request's body may keep arriving (read and discarded) before its connection is cut. */
const LINGER_MS = 2000

/**
 * Answer with an error. A body not yet read is then discarded for up to {@link LINGER_MS}, and
 * the connection cut if it is still coming: closing at once, with unread data, resets the
 * connection and a client still sending could lose the answer (nginx's "lingering close").
 */
export function refuse(req: FastifyRequest, reply: FastifyReply, err: unknown, retryAfterMs = 0): FastifyReply {
  if (retryAfterMs > 0) void reply.header('retry-after', String(Math.ceil(retryAfterMs / 1000)))
  void reply.removeHeader('connection')
  if (hasBody(req) && !req.raw.complete) lingerThenClose(req.raw, reply.raw)
  return reply.code(statusOf(err)).send(errorBody(err))
}

function lingerThenClose(req: IncomingMessage, res: ServerResponse): void {
  res.once('finish', () => {
    if (req.complete) return
    req.unpipe()
    req.resume()
    const timer = setTimeout(() => req.socket.destroy(), LINGER_MS)
    timer.unref()
    req.once('end', () => {
      clearTimeout(timer)
    })
  })
}

/**
 * The API's front door, run for every request before its body is read (fastify `onRequest`):
 * a per-address rate limit, then the bearer token against the route's declared access, then a
 * per-token rate limit. Routes get it by default — one that declares no access needs an admin
 * token — so a body is only ever read for a caller allowed to send it, and only up to the
 * route's limit (fastify's `bodyLimit`) within the route's time (a deadline on the body stream).
 */
export function installGuard(app: FastifyInstance, o: GuardOptions): void {
  const now = o.now ?? Date.now
  const byAddress = new RateLimiter(o.limits.perAddress)
  const byToken = new RateLimiter(o.limits.perToken)
  const refused = (req: FastifyRequest, reply: FastifyReply, err: FleetError, retryAfterMs = 0) => {
    o.metrics.apiRefused.inc({ code: err.code })
    return refuse(req, reply, err, retryAfterMs)
  }
  app.addHook('onRequest', async (req, reply) => {
    const access = req.routeOptions.config.access ?? (req.is404 ? null : { scope: 'admin' as const })
    if (access === 'public') return
    const wait = byAddress.take(`a:${req.ip}`, now())
    if (wait > 0) return refused(req, reply, new FleetError('API_RATE_LIMITED', `too many requests from ${req.ip}`), wait)
    if (access === null) return // an unknown route: 404, its body bounded by the default limit
    try {
      await authorize(o.tokens, req, access.scope)
    } catch (err) {
      if (err instanceof FleetError) return refused(req, reply, err)
      throw err
    }
    const token = createHash('sha256')
      .update(req.headers.authorization ?? '')
      .digest('base64url')
    const tokenWait = byToken.take(`t:${token}`, now())
    if (tokenWait > 0) return refused(req, reply, new FleetError('API_RATE_LIMITED', 'too many requests with this token'), tokenWait)
  })
  app.addHook('preParsing', async (req, _reply, payload) =>
    hasBody(req) ? withDeadline(payload, req.routeOptions.config.bodyTimeoutMs ?? o.limits.bodyTimeoutMs) : payload,
  )
}

/** `payload`, failing with a 408 when it has not ended within `ms`. */
function withDeadline(payload: Readable, ms: number): Readable {
  const out = new PassThrough()
  const timer = setTimeout(() => {
    payload.unpipe(out)
    out.destroy(Object.assign(new Error(`the request body did not arrive within ${ms} ms`), { statusCode: 408 }))
  }, ms)
  const clear = () => {
    clearTimeout(timer)
  }
  payload.once('end', clear)
  payload.once('close', clear)
  out.once('close', clear)
  // Fastify listens once it reads the body; until then an error must not go unheard.
  out.on('error', () => undefined)
  payload.pipe(out)
  return out
}
