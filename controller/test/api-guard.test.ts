import { once } from 'node:events'
import { request } from 'node:http'
import { connect } from 'node:net'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ADMIN, api, makePackage, pumpBody, testEnv } from './helpers.js'

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: { error?: { code: string } }
  /** Bytes of the body written before the answer came. */
  sent: number
}

/**
 * POST `total` bytes to `url` in 64 KiB chunks (`pauseAfter`: stop sending after that many and
 * wait), resolving with the answer as soon as it comes — possibly long before the body is sent.
 */
function post(url: string, total: number, o: { token?: string; type?: string; pauseAfter?: number } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: {
        'content-type': o.type ?? 'application/json',
        'content-length': total,
        ...(o.token === undefined ? {} : { authorization: `Bearer ${o.token}` }),
      },
    })
    let answered = false
    req.on('response', (res) => {
      answered = true
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => (text += d))
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text || '{}') as Answer['body'], sent: sent() })
      })
    })
    req.on('error', (err) => {
      if (!answered) reject(err)
    })
    const sent = pumpBody(req, total, () => answered, o.pauseAfter)
  })
}

describe('the API refuses before it reads', () => {
  it('answers a large unauthenticated body with 401 before reading it, and an authenticated one over the limit with 413', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const big = 64 * 1024 * 1024
    const anonymous = await post(`${c.url}/v1/rollouts`, big)
    expect(anonymous.status).toBe(401)
    expect(anonymous.sent).toBeLessThan(big / 4)
    const wrong = await post(`${c.url}/v1/devices/bulk`, big, { token: 'not-a-token' })
    expect(wrong.status).toBe(401)
    const tooLarge = await post(`${c.url}/v1/rollouts`, 2 * 1024 * 1024, { token: ADMIN })
    expect(tooLarge.status).toBe(413)
    expect(tooLarge.body.error?.code).toBe('API_BODY_TOO_LARGE')
    const reader = await c.tokens.create('viewer', ['read'])
    expect((await post(`${c.url}/v1/models`, big, { token: reader, type: 'application/octet-stream' })).status).toBe(403)
  })

  it('streams a model upload to disk up to its own limit, and leaves no file behind', async () => {
    await using env = await testEnv({ apiUploadLimitBytes: 256 * 1024, apiBodyLimitBytes: 4096 })
    const c = await env.start()
    const pkg = makePackage(env.publisher, 'kws', '1.0.0', 100 * 1024)
    expect(pkg.byteLength).toBeGreaterThan(4096) // over the JSON limit, under the upload limit
    expect((await api(c)('POST', '/v1/models', pkg)).status).toBe(201)
    const over = await post(`${c.url}/v1/models`, 1024 * 1024, { token: ADMIN, type: 'application/octet-stream' })
    expect(over.status).toBe(413)
    expect(over.body.error?.code).toBe('API_BODY_TOO_LARGE')
    expect(await readdir(join(env.storeDir, '.uploads'))).toEqual([])
  })

  it('limits requests per address and per token with 429 and Retry-After', async () => {
    await using env = await testEnv({ apiAddressRate: 1, apiAddressBurst: 3 })
    const c = await env.start()
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push(await fetch(`${c.url}/v1/devices`, { headers: { authorization: `Bearer ${ADMIN}` } }))
    expect(statuses.map((r) => r.status)).toEqual([200, 200, 200, 429])
    expect(Number(statuses[3]?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(((await statuses[3]?.json()) as { error: { code: string } }).error.code).toBe('API_RATE_LIMITED')
    // Probes and downloads stay open.
    expect((await fetch(`${c.url}/health`)).status).toBe(200)

    const c2 = await env.start('per-token', { apiAddressRate: 0, apiTokenRate: 1, apiTokenBurst: 2 })
    const other = await c2.tokens.create('other', ['read'])
    const as = (token: string) => fetch(`${c2.url}/v1/devices`, { headers: { authorization: `Bearer ${token}` } })
    expect([(await as(ADMIN)).status, (await as(ADMIN)).status, (await as(ADMIN)).status]).toEqual([200, 200, 429])
    expect((await as(other)).status).toBe(200)
  })

  it('answers 408 to a body that stops arriving, and closes a connection whose headers never end', async () => {
    await using env = await testEnv({ apiBodyTimeoutMs: 300, apiHeadersTimeoutMs: 1000 })
    const c = await env.start()
    const stalled = await post(`${c.url}/v1/rollouts`, 100_000, { token: ADMIN, pauseAfter: 1 })
    expect(stalled.status).toBe(408)
    expect(stalled.body.error?.code).toBe('API_TIMEOUT')
    const { port } = new URL(c.url)
    const socket = connect(Number(port), '127.0.0.1')
    socket.write(`GET /v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ADMIN}\r\n`)
    let reply = ''
    socket.setEncoding('utf8').on('data', (d: string) => (reply += d))
    await once(socket, 'close')
    expect(reply).toMatch(/^HTTP\/1\.1 408/)
  })
})
