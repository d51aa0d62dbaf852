import { PassThrough } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { isFleetError } from '@liquid-edge/protocol'
import { errorBody } from './route.js'

/** The last line of a stream that failed: the error's code and message (internal errors stay vague). */
export type ErrorLine = { type: 'error'; error: { code: string; message: string } }

/** True when the client asked for a stream of lines (`Accept: application/x-ndjson`). */
export function wantsLines(raw: FastifyRequest): boolean {
  return (raw.headers.accept ?? '').includes('application/x-ndjson')
}

/**
 * Answer with NDJSON: `work` writes lines as it goes and resolves with the last one; a failure
 * becomes an `error` line. The response closing early means the client went away: `signal` aborts.
 */
export function streamLines<L>(reply: FastifyReply, work: (write: (line: L) => void, signal: AbortSignal) => Promise<L>): PassThrough {
  const out = new PassThrough()
  const abort = new AbortController()
  const write = (line: L | ErrorLine): void => {
    if (!out.writableEnded) out.write(`${JSON.stringify(line)}\n`)
  }
  reply.raw.on('close', () => {
    if (!out.writableEnded) abort.abort()
  })
  work(write, abort.signal).then(
    (last) => {
      write(last)
      out.end()
    },
    (err: unknown) => {
      write({ type: 'error', error: isFleetError(err) ? errorBody(err).error : { code: 'INTERNAL', message: 'internal error' } })
      out.end()
    },
  )
  void reply.type('application/x-ndjson')
  return out
}
