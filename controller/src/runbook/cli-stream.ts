import * as z from 'zod'
import { CliError, EXIT } from '../cli/client.js'
import type { Context } from '../cli/context.js'
import { StreamLineSchema, type StreamLine } from './report.js'

/** `liquid-lln` exits with this when a runbook verdict fails (0: pass; 3: unknown target; 2: bad flags). */
export const VERDICT_FAILED = 7

const NOT_FOUND = new Set(['ROLLOUT_NO_DEVICES', 'REGISTRY_DEVICE_NOT_FOUND', 'MODEL_NOT_FOUND'])

function exitFor(status: number, code: string): number {
  if (NOT_FOUND.has(code)) return EXIT.NOT_FOUND
  if (status === 401 || status === 403) return EXIT.AUTH
  if (status >= 400 && status < 500) return EXIT.USAGE
  return EXIT.ERROR
}

/**
 * POST a runbook request and read its NDJSON stream; each line is zod-validated. Resolves with the
 * final report; `onLine` sees progress and log lines as they come.
 */
export async function streamVerb(
  ctx: Context,
  verb: string,
  body: unknown,
  onLine: (line: StreamLine) => void,
): Promise<Record<string, unknown>> {
  const baseUrl = (ctx.opts.apiUrl ?? ctx.io.env.LLN_API_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '')
  if (!/^https?:\/\//.test(baseUrl)) throw new CliError(`--api-url: '${baseUrl}' is not an http(s) URL`, EXIT.USAGE, 'CLI_BAD_FLAG')
  const token = ctx.opts.token ?? ctx.io.env.LLN_TOKEN
  let res: Response
  try {
    res = await fetch(`${baseUrl}/v1/runbook/${verb}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/x-ndjson',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify(body),
    })
  } catch (err) {
    const why = err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err)
    throw new CliError(`cannot reach the controller at ${baseUrl}: ${why}`, EXIT.ERROR, 'CLI_UNREACHABLE')
  }
  if (!res.ok || res.body === null) {
    const text = await res.text()
    let e: { code?: string; message?: string } | undefined
    try {
      e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error
    } catch {
      e = undefined
    }
    const code = e?.code ?? `HTTP_${res.status}`
    throw new CliError(e?.message ?? `HTTP ${res.status}`, exitFor(res.status, code), code)
  }
  const decoder = new TextDecoder()
  let buffered = ''
  const got: { report: Record<string, unknown> | null } = { report: null }
  const handle = (text: string): void => {
    if (text.trim() === '') return
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new CliError(`the controller sent a line that is not JSON: ${text.slice(0, 120)}`, EXIT.ERROR, 'CLI_BAD_RESPONSE')
    }
    const parsed = StreamLineSchema.safeParse(json)
    if (!parsed.success)
      throw new CliError(`unexpected answer from the controller: ${z.prettifyError(parsed.error)}`, EXIT.ERROR, 'CLI_BAD_RESPONSE')
    const line = parsed.data
    if (line.type === 'report') got.report = line.report
    else if (line.type === 'error')
      throw new CliError(line.error.message, exitFor(line.error.code === 'INTERNAL' ? 500 : 400, line.error.code), line.error.code)
    else onLine(line)
  }
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true })
    let nl: number
    while ((nl = buffered.indexOf('\n')) >= 0) {
      handle(buffered.slice(0, nl))
      buffered = buffered.slice(nl + 1)
    }
  }
  handle(buffered)
  if (got.report === null)
    throw new CliError('the controller ended the answer without a report (partial results lost)', EXIT.ERROR, 'CLI_BAD_RESPONSE')
  return got.report
}
