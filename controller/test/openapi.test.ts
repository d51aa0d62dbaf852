import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv } from 'ajv'
import { describe, expect, it } from 'vitest'
import { startFakeDevices } from '@liquid-edge/test/harness'
import { OPENAPI_PATH, openApiText } from '../scripts/gen-openapi.js'
import { api, setupFleet, testEnv, waitForState } from './helpers.js'

type Doc = { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: object }> }> }>> }

/** OpenAPI 3.0's boolean `exclusiveMinimum`/`exclusiveMaximum` in the JSON Schema form Ajv reads. */
function draft7(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(draft7)
  if (typeof node !== 'object' || node === null) return node
  const bounds: Record<string, string> = { exclusiveMinimum: 'minimum', exclusiveMaximum: 'maximum' }
  const entries = Object.entries(node as Record<string, unknown>)
  const replaced = new Set(entries.filter(([k, v]) => v === true && k in bounds).map(([k]) => bounds[k]))
  return Object.fromEntries(
    entries
      .filter(([k, v]) => !replaced.has(k) && !(k in bounds && v === false))
      .map(([k, v]): [string, unknown] => [k, k in bounds && v === true ? (node as Record<string, unknown>)[bounds[k] ?? ''] : draft7(v)]),
  )
}

describe('OpenAPI document', () => {
  it('the checked-in docs/openapi.json is the live document (run `npm run gen:docs` after changing a route)', async () => {
    const file = readFileSync(join(import.meta.dirname, '..', '..', OPENAPI_PATH), 'utf8')
    expect(file, `${OPENAPI_PATH} is stale: run npm run gen:docs`).toBe(openApiText())
    await using env = await testEnv()
    const c = await env.start()
    const served = await (await fetch(`${c.url}/openapi.json`)).json()
    expect(served).toEqual(JSON.parse(file))
  })

  it('answers match the response schemas the document promises', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const call = api(c)
    const fleet = await setupFleet(c, env, 2)
    await using _devices = await startFakeDevices({ url: env.broker.url, root: env.root }, fleet.ids)
    const doc = JSON.parse(openApiText()) as Doc
    const ajv = new Ajv({ strict: false, validateFormats: false })
    const check = async (method: string, path: string, template: string, body?: unknown): Promise<Record<string, unknown>> => {
      const res = await call(method, path, body)
      const op = doc.paths[template]?.[method.toLowerCase()]
      const schema = op?.responses[String(res.status)]?.content?.['application/json']?.schema
      expect(schema, `${method} ${template} documents its ${res.status} answer`).toBeDefined()
      const validate = ajv.compile(draft7(schema ?? {}) as object)
      expect(validate(res.body) ? [] : validate.errors, `${method} ${path}: ${JSON.stringify(res.body).slice(0, 300)}`).toEqual([])
      return res.body
    }
    const rollout = await check('POST', '/v1/rollouts', '/v1/rollouts', {
      model: { name: 'kws', version: '2.0.0' },
      target: 'env=staging',
      strategy: 'all',
    })
    await waitForState(c, String(rollout.id), 'completed')
    await check('GET', '/v1/devices', '/v1/devices')
    await check('GET', '/v1/devices/dev-0', '/v1/devices/{id}')
    await check('GET', '/v1/status?target=env%3Dstaging', '/v1/status')
    await check('GET', '/v1/fleet/devices?target=env%3Dstaging&limit=1', '/v1/fleet/devices')
    await check('GET', '/v1/fleet/summary?q=dev', '/v1/fleet/summary')
    await check('GET', '/v1/whoami', '/v1/whoami')
    await check('GET', `/v1/telemetry/series?from=${Date.now() - 60_000}&to=${Date.now()}`, '/v1/telemetry/series')
    await check('GET', '/v1/models', '/v1/models')
    await check('GET', '/v1/models/kws/2.0.0', '/v1/models/{name}/{version}')
    await check('GET', '/v1/rollouts', '/v1/rollouts')
    await check('GET', `/v1/rollouts/${String(rollout.id)}`, '/v1/rollouts/{id}')
    await check('POST', '/v1/rollback', '/v1/rollback', { target: 'env=staging', toPrevious: true })
    await check('PATCH', '/v1/devices/dev-1', '/v1/devices/{id}', { set: { slot: 'blue' } })
    await check('POST', '/v1/devices', '/v1/devices', { id: 'dev-new', labels: { env: 'lab' } })
    await check('DELETE', '/v1/devices/dev-new', '/v1/devices/{id}')
  })
})
