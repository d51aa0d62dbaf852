import * as z from 'zod'
import { ERROR_CODES } from './codes.js'

const CODE_LIST = Object.keys(ERROR_CODES) as [keyof typeof ERROR_CODES, ...(keyof typeof ERROR_CODES)[]]

/** Every stable error code, e.g. `PROTO_INVALID_JSON`. */
export const ErrorCodeSchema = z.enum(CODE_LIST)
export type ErrorCode = z.infer<typeof ErrorCodeSchema>

/** A JSON value small enough to travel in error details and command results. */
export const JsonScalarSchema = z.union([z.string().max(4096), z.number(), z.boolean(), z.null()])

/**
 * The wire shape of an error (command replies, reported state, fleet events).
 * Readers accept codes they do not know (a newer peer), so `code` is a string here;
 * use {@link fromErrorPayload} to get a {@link FleetError}.
 */
export const ErrorPayloadSchema = z
  .object({
    code: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]{2,63}$/)
      .describe('Stable error code from docs/errors.md (SCREAMING_SNAKE, 3-64 characters); readers accept codes they do not know.'),
    message: z.string().max(2048).describe('Human-readable explanation, at most 2048 characters; never parse it.'),
    retryable: z.boolean().default(false).describe('True when the same request may succeed later; default false.'),
    details: z
      .record(z.string().max(64), z.unknown())
      .optional()
      .describe('Small structured evidence (observed values, issues); units in the key names.'),
  })
  .describe('An error: a stable code, a message, whether to retry, and evidence.')
export type ErrorPayload = z.output<typeof ErrorPayloadSchema>

export interface FleetErrorOptions {
  retryable?: boolean
  details?: Record<string, unknown>
  cause?: unknown
}

/** The one error type of Liquid Edge. Branch on `code` with {@link isFleetError}, never on the message. */
export class FleetError extends Error {
  override readonly name = 'FleetError'
  readonly code: ErrorCode
  readonly retryable: boolean
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message: string, options: FleetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.retryable = options.retryable ?? false
    this.details = options.details
  }
}

/** True when `err` is a {@link FleetError}, optionally with the given code. */
export function isFleetError(err: unknown, code?: ErrorCode): err is FleetError {
  return err instanceof FleetError && (code === undefined || err.code === code)
}

/** The wire payload for any error; unknown errors become `AGENT_INTERNAL`-style `fallback` codes. */
export function toErrorPayload(err: unknown, fallback: ErrorCode = 'AGENT_INTERNAL'): ErrorPayload {
  if (err instanceof FleetError) {
    return {
      code: err.code,
      message: err.message,
      retryable: err.retryable,
      ...(err.details === undefined ? {} : { details: err.details }),
    }
  }
  const message = err instanceof Error ? err.message : String(err)
  return { code: fallback, message, retryable: false }
}

/** A {@link FleetError} from a wire payload; a code this reader does not know keeps its text in `details.code`. */
export function fromErrorPayload(payload: ErrorPayload): FleetError {
  const known = ErrorCodeSchema.safeParse(payload.code)
  const code = known.success ? known.data : 'AGENT_INTERNAL'
  const details = known.success ? payload.details : { ...payload.details, code: payload.code }
  return new FleetError(code, payload.message, {
    retryable: payload.retryable,
    ...(details === undefined ? {} : { details }),
  })
}
