import * as z from 'zod'
import { CliError, EXIT, exitFor, unreachable } from '../client.js'
import type { Context } from '../context.js'

/** A line of the controller's runbook stream (`application/x-ndjson`); the report is rendered defensively. */
const StreamLineSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('progress'), deviceId: z.string(), status: z.string(), done: z.number(), total: z.number() }),
  z.object({ type: z.literal('partial'), deviceId: z.string(), elapsedMs: z.number(), samples: z.number() }),
  z.object({ type: z.literal('log'), deviceId: z.string(), ts: z.number(), level: z.string(), msg: z.string() }),
  z.object({ type: z.literal('report'), report: z.looseObject({ verdict: z.string() }) }),
  z.object({ type: z.literal('error'), error: z.object({ code: z.string(), message: z.string() }) }),
])
export type StreamLine = z.infer<typeof StreamLineSchema>

/** `liquid-lln` exits with this when a runbook verdict fails (0: pass; 3: unknown target; 2: bad flags). */
export const VERDICT_FAILED = 7

/**
 * POST `body` to `path` asking for `application/x-ndjson`, and hand each line, parsed as JSON, to
 * `onJson` as it arrives (a refusal before the stream is thrown as a {@link CliError}).
 */
export async function postLines(ctx: Context, path: string, body: unknown, onJson: (json: unknown) => void): Promise<void> {
  const { baseUrl, token } = ctx.client()
  let res: Response
  try {
    res = await fetch(`${baseUrl.replace(/\/$/, '')}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/x-ndjson',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify(body),
    })
  } catch (err) {
    throw unreachable(baseUrl, err)
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
  const handle = (text: string): void => {
    if (text.trim() === '') return
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new CliError(`the controller sent a line that is not JSON: ${text.slice(0, 120)}`, EXIT.ERROR, 'CLI_BAD_RESPONSE')
    }
    onJson(json)
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
}

/** A line that names an error ends the stream: thrown with its code's exit code. */
export function streamError(error: { code: string; message: string }): CliError {
  return new CliError(error.message, exitFor(error.code === 'INTERNAL' ? 500 : 400, error.code), error.code)
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
  const got: { report: Record<string, unknown> | null } = { report: null }
  await postLines(ctx, `/v1/runbook/${verb}`, body, (json) => {
    const parsed = StreamLineSchema.safeParse(json)
    if (!parsed.success)
      throw new CliError(`unexpected answer from the controller: ${z.prettifyError(parsed.error)}`, EXIT.ERROR, 'CLI_BAD_RESPONSE')
    const line = parsed.data
    if (line.type === 'report') got.report = line.report
    else if (line.type === 'error') throw streamError(line.error)
    else onLine(line)
  })
  if (got.report === null)
    throw new CliError('the controller ended the answer without a report (partial results lost)', EXIT.ERROR, 'CLI_BAD_RESPONSE')
  return got.report
}
