import { request } from 'node:http'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ADMIN, pumpBody, spawnController, testEnv, type ControllerProcess, type Env } from './helpers.js'

const MiB = 1024 * 1024
/** A health probe's functional bound (a Kubernetes probe's default timeout is 1 s); the measured latencies are in the message. */
const HEALTH_BOUND_MS = 1000

type Body = { kind: 'none' } | { kind: 'json'; value: unknown } | { kind: 'bytes'; size: number } | { kind: 'slow' }

interface Call {
  method: string
  path: string
  token: string | null
  type: string | null
  body: Body
}

/**
 * Send one request and resolve with its status as soon as the answer's headers arrive (event
 * streams never end); a body is streamed in 64 KiB chunks until the answer comes, a slow one
 * stops after its first byte.
 */
function send(base: string, c: Call): Promise<number> {
  return new Promise((resolve, reject) => {
    const payload = c.body.kind === 'json' ? Buffer.from(JSON.stringify(c.body.value)) : null
    const size = c.body.kind === 'bytes' ? c.body.size : c.body.kind === 'slow' ? 4096 : (payload?.byteLength ?? 0)
    const req = request(`${base}${c.path}`, {
      method: c.method,
      headers: {
        ...(c.token === null ? {} : { authorization: `Bearer ${c.token}` }),
        ...(c.type === null || c.body.kind === 'none' ? {} : { 'content-type': c.type }),
        ...(c.body.kind === 'none' ? {} : { 'content-length': size }),
      },
    })
    let answered = false
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer in 30 s: ${c.method} ${c.path}`)))
    req.on('response', (res) => {
      answered = true
      resolve(res.statusCode ?? 0)
      res.destroy()
    })
    req.on('error', (err) => {
      if (!answered) reject(err)
    })
    if (payload !== null) req.end(payload)
    else if (c.body.kind === 'slow') req.write('{')
    else if (c.body.kind === 'bytes') pumpBody(req, size, () => answered)
    else req.end()
  })
}

/** Probe `/health` every 50 ms (one at a time) until stopped: the latency of every answer, and any failure. */
function watchHealth(base: string): { stop: () => Promise<number[]> } {
  const latencies: number[] = []
  const failures: string[] = []
  let inFlight: Promise<void> | null = null
  const probe = async () => {
    const t0 = performance.now()
    try {
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(10_000) })
      await res.arrayBuffer()
      latencies.push(performance.now() - t0)
      if (res.status !== 200) failures.push(`HTTP ${res.status}`)
    } catch (err) {
      failures.push(String(err))
    }
  }
  const timer = setInterval(() => {
    inFlight ??= probe().finally(() => (inFlight = null))
  }, 50)
  return {
    stop: async () => {
      clearInterval(timer)
      await inFlight
      if (failures.length > 0) throw new Error(`/health failed: ${failures.slice(0, 3).join('; ')}`)
      return latencies
    },
  }
}

function summary(ms: number[]): string {
  const sorted = [...ms].sort((a, b) => a - b)
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]?.toFixed(1)
  return `${ms.length} probes: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${q(1)} ms`
}

/** One call per answer the API must be able to give (200, 400, 401, 403, 404, 408, 413), whatever the random draws. */
const REFUSALS = (
  [
    ['GET', '/v1/devices', ADMIN, { kind: 'none' }],
    ['POST', '/v1/rollouts', ADMIN, { kind: 'json', value: { model: 7 } }],
    ['POST', '/v1/rollouts', null, { kind: 'json', value: {} }],
    ['POST', '/v1/rollouts', 'reader', { kind: 'json', value: {} }],
    ['GET', '/v1/rollouts/{id}', ADMIN, { kind: 'none' }],
    ['POST', '/v1/rollouts', ADMIN, { kind: 'slow' }],
    ['POST', '/v1/rollouts', ADMIN, { kind: 'bytes', size: 3 * MiB }],
  ] as const
).map(([method, path, token, body]) => ({
  op: { method, path },
  params: ['00000000-0000-4000-8000-000000000000', 'kws', '1.0.0'],
  query: {},
  token,
  type: 'application/json',
  body,
}))

let env: Env
let ctl: ControllerProcess
let reader: string
beforeAll(async () => {
  env = await testEnv()
  ctl = await spawnController(env, {
    LLN_API_BODY_TIMEOUT_MS: '1000',
    LLN_API_UPLOAD_LIMIT_BYTES: String(8 * MiB),
    LLN_API_UPLOAD_TIMEOUT_MS: '3000',
  })
  const res = await fetch(`${ctl.url}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'fuzz-reader', scopes: ['read'] }),
  })
  reader = ((await res.json()) as { token: string }).token
}, 60_000)
afterAll(async () => {
  ctl.child.kill('SIGKILL')
  await env.close()
})

describe('the API under hostile input (a liquid-controller process)', () => {
  it('answers a 100 MB unauthenticated body with 401 while its memory grows by less than 50 MB', async () => {
    const before = ctl.rss()
    let peak = before
    const sampler = setInterval(() => (peak = Math.max(peak, ctl.rss())), 20)
    try {
      const paths = ['/v1/models', '/v1/rollouts', '/v1/devices/bulk']
      const statuses = await Promise.all(
        paths.map((path) =>
          send(ctl.url, {
            method: 'POST',
            path,
            token: null,
            type: path === '/v1/models' ? 'application/octet-stream' : 'application/json',
            body: { kind: 'bytes', size: 100 * MiB },
          }),
        ),
      )
      expect(statuses).toEqual([401, 401, 401])
    } finally {
      clearInterval(sampler)
    }
    peak = Math.max(peak, ctl.rss())
    expect(peak - before, `RSS ${before >> 20} MiB -> peak ${peak >> 20} MiB`).toBeLessThan(50 * MiB)
  })

  it('answers fuzzed requests on every route with no 5xx, in bounded memory, /health answering throughout', async () => {
    const doc = (await (await fetch(`${ctl.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> }
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => ({ method: m.toUpperCase(), path })))
    expect(operations.length).toBeGreaterThan(25)
    const segment = fc.oneof(fc.constantFrom('dev-1', 'kws', '1.0.0', '00000000-0000-4000-8000-000000000000'), fc.string({ maxLength: 80 }))
    const call = fc.record({
      op: fc.constantFrom(...operations),
      params: fc.array(segment, { minLength: 3, maxLength: 3 }),
      query: fc.dictionary(fc.constantFrom('target', 'limit', 'offset', 'q', 'backlog', 'x'), fc.string({ maxLength: 40 }), { maxKeys: 3 }),
      token: fc.constantFrom<string | null>(ADMIN, 'reader', 'lln_not-a-token', null),
      type: fc.constantFrom<string | null>('application/json', 'application/octet-stream', 'text/plain', null),
      body: fc.oneof(
        { weight: 6, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value): Body => ({ kind: 'json', value })) },
        { weight: 2, arbitrary: fc.constant<Body>({ kind: 'none' }) },
        { weight: 1, arbitrary: fc.constantFrom<Body>({ kind: 'bytes', size: 3 * MiB }, { kind: 'bytes', size: 12 * MiB }) },
        { weight: 1, arbitrary: fc.constant<Body>({ kind: 'slow' }) },
      ),
    })
    const health = watchHealth(ctl.url)
    const before = ctl.rss()
    let peak = before
    const seen = new Map<number, number>()
    try {
      await fc.assert(
        fc.asyncProperty(call, async ({ op, params, query, token, type, body }) => {
          let i = 0
          const path = op.path.replace(/\{[^}]+\}/g, () => encodeURIComponent(params[i++] ?? ''))
          const qs = new URLSearchParams(query).toString()
          const status = await send(ctl.url, {
            method: op.method,
            path: qs === '' ? path : `${path}?${qs}`,
            token: token === 'reader' ? reader : token,
            type,
            body: op.method === 'GET' || op.method === 'DELETE' ? { kind: 'none' } : body,
          })
          seen.set(status, (seen.get(status) ?? 0) + 1)
          peak = Math.max(peak, ctl.rss())
          expect(status, `${op.method} ${path}`).toBeLessThan(500)
        }),
        {
          numRuns: 300,
          examples: REFUSALS.map((c) => [c] as [typeof c]),
        },
      )
    } finally {
      const latencies = await health.stop()
      expect(Math.max(...latencies), summary(latencies)).toBeLessThan(HEALTH_BOUND_MS)
    }
    expect(peak - before, `RSS ${before >> 20} MiB -> peak ${peak >> 20} MiB; statuses ${JSON.stringify([...seen])}`).toBeLessThan(
      100 * MiB,
    )
    // Every kind of refusal was exercised, and some requests got through.
    for (const status of [200, 400, 401, 403, 404, 408, 413]) expect(seen.get(status), `status ${status}`).toBeGreaterThan(0)
  }, 240_000)
})
