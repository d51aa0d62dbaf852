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

const NOT_FOUND = new Set(['ROLLOUT_NOT_FOUND', 'REGISTRY_DEVICE_NOT_FOUND', 'MODEL_NOT_FOUND', 'ROLLOUT_NO_DEVICES'])

function exitFor(status: number, code: string): number {
  if (NOT_FOUND.has(code)) return EXIT.NOT_FOUND
  if (status === 401 || status === 403) return EXIT.AUTH
  if (status === 409) return EXIT.CONFLICT
  if (status >= 400 && status < 500) return EXIT.USAGE
  return EXIT.ERROR
}

/** A thin client of the controller's HTTP API. */
export class ApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string | undefined,
  ) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const binary = body instanceof Uint8Array
    const headers: Record<string, string> = {}
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`
    if (body !== undefined) headers['content-type'] = binary ? 'application/octet-stream' : 'application/json'
    let res: Response
    try {
      res = await fetch(`${this.baseUrl.replace(/\/$/, '')}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: binary ? Buffer.from(body) : JSON.stringify(body) }),
      })
    } catch (err) {
      throw new CliError(
        `cannot reach the controller at ${this.baseUrl}: ${err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)}`,
        EXIT.ERROR,
        'CLI_UNREACHABLE',
      )
    }
    const text = await res.text()
    let parsed: unknown = {}
    try {
      parsed = text === '' ? {} : JSON.parse(text)
    } catch {
      parsed = { error: { code: 'CLI_BAD_RESPONSE', message: text.slice(0, 200) } }
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string } }).error
      const code = e?.code ?? `HTTP_${res.status}`
      throw new CliError(e?.message ?? `HTTP ${res.status}`, exitFor(res.status, code), code)
    }
    return parsed as T
  }
}
