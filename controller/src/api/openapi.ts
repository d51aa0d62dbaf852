import * as z from 'zod'
import { conformanceRoutes } from '../conformance/routes.js'
import { consoleRoutes } from '../console/console-routes.js'
import { jobRoutes } from '../runbook/job-routes.js'
import { runbookRoutes } from '../runbook/routes.js'
import { thresholdRoutes } from '../rules/threshold-routes.js'
import { telemetryRoutes } from '../telemetry/telemetry-routes.js'
import { brokerRoutes } from './broker-routes.js'
import { ErrorBodySchema, type RouteDef } from './route.js'
import { apiRoutes, type RouteDeps } from './routes.js'

function schemaOf(s: z.ZodType, io: 'input' | 'output' = 'input'): unknown {
  const { $schema: _drop, ...rest } = z.toJSONSchema(s, { io, target: 'openapi-3.0', unrepresentable: 'any' }) as Record<string, unknown>
  return rest
}

function parameters(s: z.ZodType | undefined, where: 'query' | 'path'): unknown[] {
  if (!(s instanceof z.ZodObject)) return []
  return Object.entries(s.shape as Record<string, z.ZodType>).map(([name, field]) => ({
    name,
    in: where,
    required: where === 'path' || !field.safeParse(undefined).success,
    schema: schemaOf(field),
  }))
}

/** The OpenAPI 3.0 document of the API, generated from the routes' zod schemas. */
export function openApiDocument(routes: readonly RouteDef[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
    const op: Record<string, unknown> = {
      summary: r.summary,
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      responses: {
        [String(r.status ?? 200)]: {
          description: 'OK',
          ...(r.response === undefined ? {} : { content: { 'application/json': { schema: schemaOf(r.response, 'output') } } }),
        },
        '4XX': { description: 'Refused', content: { 'application/json': { schema: schemaOf(ErrorBodySchema, 'output') } } },
      },
      ...(r.scope === null ? {} : { security: [{ bearer: [] }], 'x-scope': r.scope }),
    }
    if (r.body === 'binary')
      op.requestBody = { required: true, content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } }
    else if (r.body !== undefined) op.requestBody = { required: true, content: { 'application/json': { schema: schemaOf(r.body) } } }
    paths[path] = { ...paths[path], [r.method.toLowerCase()]: op }
  }
  return {
    openapi: '3.0.3',
    info: { title: 'Liquid Edge controller API', version: '1' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  }
}

/**
 * The document without a running controller (for `npm run gen:docs` and the generated CLI client):
 * the same routes, built over dependencies their handlers never get to use.
 */
export function apiDocument(): Record<string, unknown> {
  const unused = {} as never
  return openApiDocument(
    apiRoutes({
      ...(unused as RouteDeps),
      extraRoutes: [
        ...telemetryRoutes(unused),
        ...thresholdRoutes(unused),
        ...runbookRoutes(unused),
        ...jobRoutes(unused),
        ...consoleRoutes(unused),
        ...conformanceRoutes(unused),
        ...brokerRoutes(unused),
      ],
    }),
  )
}
