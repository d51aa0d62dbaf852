import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as z from 'zod'
import { toErrorPayload, type ErrorCode, type ErrorPayload } from '@liquid-edge/protocol'

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE'

/** What a handler gets: the body already validated by the route's schema. */
export interface RouteRequest<B> {
  body: B
  query: URLSearchParams
  headers: IncomingHttpHeaders
}

/** A JSON answer, or text with its content type. `status` defaults to 200. */
export type RouteReply = { status?: number; json: unknown } | { status?: number; text: string; contentType: string }

/** One route: method, exact path, an optional zod schema for the JSON body, and the handler. */
export interface Route<B = unknown> {
  method: HttpMethod
  path: string
  /** Schema of the JSON body; an empty body is `{}`. Without it the body is not read. */
  body?: z.ZodType<B>
  handler(request: RouteRequest<B>): RouteReply | Promise<RouteReply>
}

/** Type a route by its body schema (a list of routes is `Route[]`). */
export function route<B>(r: Route<B>): Route {
  return r
}

export interface HttpServerOptions {
  /** 0 = any free port. */
  port: number
  /** @defaultValue '127.0.0.1' */
  host?: string
  routes: readonly Route[]
  /** Largest body read; beyond it 413 `API_BODY_TOO_LARGE`. @defaultValue 1 MiB */
  maxBodyBytes?: number
  /** The code of a body that is not JSON or breaks its schema (400). @defaultValue 'API_INVALID_REQUEST' */
  invalidCode?: ErrorCode
  /** Every refused request (4xx), by code: metrics. */
  onRefused?: (code: string) => void
  /** The status of an error a handler throws, from its payload. @defaultValue 500 */
  statusOf?: (error: ErrorPayload) => number
  /** Headers on every answer, e.g. `cache-control: no-store`. */
  headers?: Readonly<Record<string, string>>
  /** Time for the headers, and for the whole request, to arrive. @defaultValue 10 s, 30 s */
  headersTimeoutMs?: number
  requestTimeoutMs?: number
}

/** A running server: its URL and port, and an idempotent close that also ends kept-alive connections. */
export interface HttpServer extends AsyncDisposable {
  readonly url: string
  readonly port: number
  close(): Promise<void>
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly payload: ErrorPayload,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(payload.message)
  }
}

const refuse = (
  status: number,
  code: string,
  message: string,
  details?: Record<string, unknown>,
  headers?: Record<string, string>,
): Refusal => new Refusal(status, { code, message, retryable: false, ...(details === undefined ? {} : { details }) }, headers)

/** The body as JSON ({} when empty); an oversized body is refused as soon as it passes the cap. */
function readJson(req: IncomingMessage, maxBytes: number, invalidCode: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (chunk: Buffer) => {
      size += chunk.byteLength
      if (size <= maxBytes) chunks.push(chunk)
      else reject(refuse(413, 'API_BODY_TOO_LARGE', `the request body is over ${maxBytes} bytes`))
    })
    req.on('error', reject)
    req.on('end', () => {
      if (size > maxBytes) return
      const text = Buffer.concat(chunks).toString('utf8')
      try {
        resolve(text.trim() === '' ? {} : (JSON.parse(text) as unknown))
      } catch {
        reject(refuse(400, invalidCode, 'the request body is not valid JSON'))
      }
    })
  })
}

function write(res: ServerResponse, status: number, headers: Readonly<Record<string, string>>, reply: RouteReply): void {
  const [type, text] = 'json' in reply ? ['application/json', JSON.stringify(reply.json)] : [reply.contentType, reply.text]
  res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** Find the route, read and validate its body, run it. Throws a Refusal for the client's mistakes. */
async function dispatch(o: HttpServerOptions, req: IncomingMessage): Promise<RouteReply> {
  const raw = req.url ?? '/'
  const q = raw.indexOf('?')
  const pathname = q < 0 ? raw : raw.slice(0, q)
  const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1))
  const onPath = o.routes.filter((r) => r.path === pathname)
  if (onPath.length === 0) {
    throw refuse(404, 'API_NOT_FOUND', `no route ${pathname}`, { routes: o.routes.map((r) => `${r.method} ${r.path}`) })
  }
  const match = onPath.find((r) => r.method === req.method)
  if (match === undefined) {
    const allow = onPath.map((r) => r.method).join(', ')
    throw refuse(405, 'API_METHOD_NOT_ALLOWED', `${pathname} takes ${allow}`, undefined, { allow })
  }
  const invalidCode = o.invalidCode ?? 'API_INVALID_REQUEST'
  let body: unknown = undefined
  if (match.body !== undefined) {
    const parsed = match.body.safeParse(await readJson(req, o.maxBodyBytes ?? 1024 * 1024, invalidCode))
    if (!parsed.success) throw refuse(400, invalidCode, `invalid request body: ${z.prettifyError(parsed.error)}`)
    body = parsed.data
  }
  return match.handler({ body, query, headers: req.headers })
}

/**
 * A small JSON-over-HTTP server on node:http for the endpoints of the device side and the broker:
 * exact routes, zod-validated bodies with a size cap, errors as `{ error: ErrorPayload }`
 * (404 `API_NOT_FOUND`, 405 `API_METHOD_NOT_ALLOWED` with `Allow`, 413 `API_BODY_TOO_LARGE`, 400 for
 * a bad body), header and request timeouts, and a close that ends idle keep-alive connections.
 */
export async function startHttpServer(o: HttpServerOptions): Promise<HttpServer> {
  const headers = o.headers ?? {}
  const server = createServer((req, res) => {
    dispatch(o, req).then(
      (reply) => {
        write(res, reply.status ?? 200, headers, reply)
      },
      (err: unknown) => {
        if (res.headersSent) return
        if (err instanceof Refusal) {
          o.onRefused?.(err.payload.code)
          write(res, err.status, { ...headers, ...err.headers }, { json: { error: err.payload } })
          return
        }
        const payload = toErrorPayload(err)
        const status = o.statusOf?.(payload) ?? 500
        if (status < 500) o.onRefused?.(payload.code)
        write(res, status, headers, { json: { error: payload } })
      },
    )
  })
  server.keepAliveTimeout = 5000
  server.headersTimeout = o.headersTimeoutMs ?? 10_000
  server.requestTimeout = o.requestTimeoutMs ?? 30_000
  server.listen(o.port, o.host ?? '127.0.0.1')
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err as Error))])
  const port = (server.address() as AddressInfo).port
  let closing: Promise<void> | null = null
  const close = (): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      server.close(() => {
        resolve()
      })
      server.closeAllConnections()
    }))
  return { url: `http://${o.host ?? '127.0.0.1'}:${port}`, port, close, [Symbol.asyncDispose]: close }
}
