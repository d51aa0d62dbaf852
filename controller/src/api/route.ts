import type { FastifyReply, FastifyRequest } from 'fastify'
import * as z from 'zod'
import { FleetError, isFleetError, type ErrorCode } from '@liquid-edge/protocol'
import { allows, type Scope, type TokenStore } from './tokens.js'

export interface RouteContext<B, Q, P> {
  body: B
  query: Q
  params: P
  raw: FastifyRequest
  reply: FastifyReply
}

/** One API route: schemas (validated with zod, documented in OpenAPI) and a handler. */
export interface RouteDef<B = unknown, Q = unknown, P = unknown> {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  url: string
  summary: string
  scope: Scope | null
  body?: z.ZodType<B> | 'binary'
  query?: z.ZodType<Q>
  params?: z.ZodType<P>
  /** What a success answers (documented in OpenAPI, so generated clients are typed; checked by the API tests). */
  response?: z.ZodType
  status?: number
  handler: (ctx: RouteContext<B, Q, P>) => Promise<unknown>
}

export function route<B, Q, P>(def: RouteDef<B, Q, P>): RouteDef {
  return def as unknown as RouteDef
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  API_UNAUTHORIZED: 401,
  API_FORBIDDEN: 403,
  API_RATE_LIMITED: 429,
  API_BODY_TOO_LARGE: 413,
  API_TIMEOUT: 408,
  ROLLOUT_NOT_FOUND: 404,
  REGISTRY_DEVICE_NOT_FOUND: 404,
  REGISTRY_GROUP_NOT_FOUND: 404,
  REGISTRY_DEVICE_OFFLINE: 409,
  MODEL_NOT_FOUND: 404,
  RUNBOOK_JOB_NOT_FOUND: 404,
  ROLLOUT_CONFLICT: 409,
  ROLLOUT_INVALID_TRANSITION: 409,
  REGISTRY_DEVICE_EXISTS: 409,
  MODEL_EXISTS: 409,
  MODEL_IN_USE: 409,
  ROLLOUT_NO_DEVICES: 422,
  PACKAGE_SIGNATURE_INVALID: 422,
  PACKAGE_SIGNATURE_MISMATCH: 422,
  ROLLOUT_LEASE_LOST: 503,
}

/** HTTP status of an error: 400 for validation, 500 for anything that is not a FleetError. */
export function statusOf(err: unknown): number {
  if (!isFleetError(err)) return 500
  return STATUS[err.code] ?? (err.code.startsWith('CONFIG_') ? 500 : 400)
}

/** The body of every refusal. */
export const ErrorBodySchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()).optional() }),
})

export function errorBody(err: unknown): { error: { code: string; message: string; details?: Record<string, unknown> } } {
  if (isFleetError(err))
    return { error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) } }
  return { error: { code: 'INTERNAL', message: 'internal error' } }
}

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (schema === undefined) return undefined as T
  const r = schema.safeParse(value ?? {})
  if (!r.success) {
    throw new FleetError('API_INVALID_REQUEST', `invalid ${where}: ${z.prettifyError(r.error)}`, {
      details: { issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    })
  }
  return r.data
}

/** Check the bearer token against the scope a route needs. @throws {FleetError} `API_UNAUTHORIZED`, `API_FORBIDDEN` */
export async function authorize(tokens: TokenStore, req: FastifyRequest, scope: Scope | null): Promise<void> {
  if (scope === null) return
  const header = req.headers.authorization ?? ''
  const m = /^Bearer\s+(\S+)$/i.exec(header)
  if (m?.[1] === undefined) throw new FleetError('API_UNAUTHORIZED', 'missing bearer token (Authorization: Bearer <token>)')
  const record = await tokens.verify(m[1])
  if (record === null) throw new FleetError('API_UNAUTHORIZED', 'unknown bearer token')
  if (!allows(record.scopes, scope)) throw new FleetError('API_FORBIDDEN', `this token lacks the '${scope}' scope`)
}

/** Validate a request against a route's schemas. */
export function parseRequest(def: RouteDef, req: FastifyRequest): { body: unknown; query: unknown; params: unknown } {
  const body = def.body === 'binary' ? req.body : parse(def.body, req.body, 'body')
  return { body, query: parse(def.query, req.query, 'query'), params: parse(def.params, req.params, 'path parameters') }
}
