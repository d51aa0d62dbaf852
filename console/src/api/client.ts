import type * as z from 'zod'

/** How a request failed, in the terms the console explains to an operator. */
export type ApiErrorKind = 'unauthorized' | 'forbidden' | 'invalid' | 'not-found' | 'conflict' | 'unreachable' | 'server' | 'malformed'

/** A failed API call: its kind, HTTP status (0 when the controller did not answer), the API's error code and message. */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly kind: ApiErrorKind,
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

function kindOf(status: number): ApiErrorKind {
  if (status === 401) return 'unauthorized'
  if (status === 403) return 'forbidden'
  if (status === 404) return 'not-found'
  if (status === 409) return 'conflict'
  if (status >= 500) return 'server'
  return 'invalid'
}

export interface ApiClientOptions {
  /** The bearer token of the session (null: none). */
  token: () => string | null
  /** The controller refused the token: the session is over. */
  onUnauthorized: (message: string) => void
  /** Whether the last call reached the controller. */
  onReachable: (reachable: boolean) => void
  /** Per call. @defaultValue 15000 */
  timeoutMs?: number
}

/** The controller's HTTP API on this origin, with the session's token; every answer validated. */
export class ApiClient {
  constructor(private readonly o: ApiClientOptions) {}

  get<T>(path: string, schema: z.ZodType<T>, signal?: AbortSignal): Promise<T> {
    return this.call('GET', path, undefined, schema, signal)
  }

  post<T>(path: string, body: unknown, schema: z.ZodType<T>): Promise<T> {
    return this.call('POST', path, body, schema)
  }

  /** A call with an explicit token (the login form checks one before it becomes the session's). */
  async call<T>(method: string, path: string, body: unknown, schema: z.ZodType<T>, signal?: AbortSignal, token?: string): Promise<T> {
    const bearer = token ?? this.o.token()
    const timeout = AbortSignal.timeout(this.o.timeoutMs ?? 15_000)
    let res: Response
    try {
      res = await fetch(path, {
        method,
        headers: {
          ...(bearer === null ? {} : { authorization: `Bearer ${bearer}` }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
      })
    } catch (err) {
      if (signal?.aborted === true) throw err
      this.o.onReachable(false)
      throw new ApiError('unreachable', 0, 'UNREACHABLE', 'The controller does not answer. Retrying when it is back.')
    }
    this.o.onReachable(true)
    const text = await res.text()
    let json: unknown = null
    try {
      json = text === '' ? {} : JSON.parse(text)
    } catch {
      throw new ApiError('malformed', res.status, 'MALFORMED', `The controller answered ${res.status} with something that is not JSON.`)
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error
      const code = typeof e?.code === 'string' ? e.code : `HTTP_${res.status}`
      const message = typeof e?.message === 'string' ? e.message : `HTTP ${res.status}`
      const err = new ApiError(kindOf(res.status), res.status, code, message)
      if (err.kind === 'unauthorized' && token === undefined) this.o.onUnauthorized(message)
      throw err
    }
    const parsed = schema.safeParse(json)
    if (!parsed.success) throw new ApiError('malformed', res.status, 'MALFORMED', `Unexpected answer from ${path}: ${parsed.error.message}`)
    return parsed.data
  }
}

/** What to tell an operator about a failed call. */
export function explain(err: unknown): string {
  if (!(err instanceof ApiError)) return err instanceof Error ? err.message : String(err)
  switch (err.kind) {
    case 'forbidden':
      return `Refused: ${err.message}. Log in with a token that has that scope to do this.`
    case 'unauthorized':
      return 'The controller no longer accepts your token. Log in again.'
    case 'unreachable':
      return err.message
    default:
      return `${err.message} (${err.code})`
  }
}
