import createClient, { type Client } from 'openapi-fetch'
import type { paths } from './api/openapi.js'

/** Exit codes `liquid-lln` promises to scripts. */
export const EXIT = Object.freeze({
  OK: 0,
  ERROR: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  AUTH: 4,
  CONFLICT: 5,
  ROLLOUT_FAILED: 6,
})

/** An error the CLI reports and exits with. */
export class CliError extends Error {
  override readonly name = 'CliError'
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code: string = 'CLI_ERROR',
  ) {
    super(message)
  }
}

const NOT_FOUND = new Set([
  'ROLLOUT_NOT_FOUND',
  'REGISTRY_DEVICE_NOT_FOUND',
  'REGISTRY_GROUP_NOT_FOUND',
  'MODEL_NOT_FOUND',
  'ROLLOUT_NO_DEVICES',
])

/** Conflicts by code too: a refusal inside an NDJSON stream comes after its 200. */
const CONFLICT = new Set(['REGISTRY_DEVICE_OFFLINE'])

/** The exit code of an API refusal. */
export function exitFor(status: number, code: string): number {
  if (NOT_FOUND.has(code)) return EXIT.NOT_FOUND
  if (status === 401 || status === 403) return EXIT.AUTH
  if (status === 409 || CONFLICT.has(code)) return EXIT.CONFLICT
  if (status >= 400 && status < 500) return EXIT.USAGE
  return EXIT.ERROR
}

/** Why a fetch failed, in the words of its cause (ECONNREFUSED, …). */
export function unreachable(baseUrl: string, err: unknown): CliError {
  const why = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)
  return new CliError(`cannot reach the controller at ${baseUrl}: ${why}`, EXIT.ERROR, 'CLI_UNREACHABLE')
}

/** The API's paths, generated from its OpenAPI document (`docs/openapi.json`). */
export type ApiPaths = paths

type Json<R> = R extends { content: { 'application/json': infer T } } ? T : never
type Success<R> = R extends { 200: infer A } ? Json<A> : R extends { 201: infer A } ? Json<A> : R extends { 202: infer A } ? Json<A> : never
/** The JSON body a path and method take, e.g. `ApiBody<'/v1/rollouts', 'post'>`. */
export type ApiBody<P extends keyof paths, M extends 'post' | 'patch'> = paths[P][M] extends {
  requestBody: { content: { 'application/json': infer B } }
}
  ? B
  : never

/** The JSON a path and method answer on success, e.g. `ApiAnswer<'/v1/devices/{id}', 'get'>`. */
export type ApiAnswer<P extends keyof paths, M extends 'get' | 'post' | 'patch' | 'delete'> = paths[P][M] extends { responses: infer R }
  ? Success<R>
  : never

interface Answer<D> {
  data?: D
  error?: unknown
  response: Response
}

/** A typed client of the controller's HTTP API: paths, parameters, bodies and answers come from its OpenAPI document. */
export class ApiClient {
  /** Typed requests (`GET('/v1/devices', { params: { query: { target } } })`); pass them to {@link ApiClient.ok}. */
  readonly http: Client<paths>
  constructor(
    readonly baseUrl: string,
    readonly token: string | undefined,
  ) {
    this.http = createClient<paths>({
      baseUrl: baseUrl.replace(/\/$/, ''),
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    })
  }

  /** The data of a success, or the refusal as a {@link CliError} with its code and exit code. */
  async ok<D>(pending: Promise<Answer<D>>): Promise<D> {
    let answer: Answer<D>
    try {
      answer = await pending
    } catch (err) {
      throw unreachable(this.baseUrl, err)
    }
    if (answer.response.ok) return answer.data as D
    const status = answer.response.status
    const e = (answer.error as { error?: { code?: string; message?: string } } | undefined)?.error
    const code = e?.code ?? `HTTP_${status}`
    throw new CliError(e?.message ?? `HTTP ${status}`, exitFor(status, code), code)
  }

  /** Verify and store a `.liquid` package (sent as bytes). */
  pushModel(bytes: Uint8Array): Promise<ApiAnswer<'/v1/models', 'post'>> {
    return this.ok(
      this.http.POST('/v1/models', {
        body: bytes as unknown as string,
        bodySerializer: (b: unknown) => b,
        headers: { 'content-type': 'application/octet-stream' },
      }),
    )
  }

  /** A route the document gives no answer schema for: its JSON, typed by the caller. */
  async untyped<T>(pending: Promise<Answer<unknown>>): Promise<T> {
    return (await this.ok(pending)) as T
  }
}
