import { Agent, request } from 'node:http'
import { describe, expect, it } from 'vitest'
import * as z from 'zod'
import { route, startHttpServer } from '@liquid-edge/http'
import { FleetError } from '@liquid-edge/protocol'

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

function call(url: string, method: string, path: string, body?: string, agent?: Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, ...(agent === undefined ? {} : { agent }) }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

const Sum = z.object({ values: z.array(z.number()).min(1) })

async function server(refused: string[] = []) {
  return startHttpServer({
    port: 0,
    maxBodyBytes: 1024,
    headers: { 'cache-control': 'no-store' },
    onRefused: (code) => refused.push(code),
    statusOf: (err) => (err.code === 'AGENT_NO_MODEL' ? 503 : 500),
    routes: [
      route({
        method: 'POST',
        path: '/sum',
        body: Sum,
        handler: ({ body }) => ({ json: { sum: body.values.reduce((a, b) => a + b, 0) } }),
      }),
      route({
        method: 'GET',
        path: '/echo',
        handler: ({ query }) => ({ status: 202, text: query.get('q') ?? '', contentType: 'text/plain' }),
      }),
      route({
        method: 'GET',
        path: '/fail',
        handler: ({ query }) => {
          throw query.has('model') ? new FleetError('AGENT_NO_MODEL', 'no model') : new Error('boom')
        },
      }),
    ],
  })
}

describe('startHttpServer', () => {
  it('routes by method and path, validates JSON bodies and answers JSON or text with the shared headers', async () => {
    await using s = await server()
    const sum = await call(s.url, 'POST', '/sum', '{"values":[1,2,3.5]}')
    expect(sum).toMatchObject({ status: 200, body: '{"sum":6.5}' })
    expect(sum.headers['content-type']).toBe('application/json')
    expect(sum.headers['cache-control']).toBe('no-store')
    expect(await call(s.url, 'GET', '/echo?q=hi')).toMatchObject({ status: 202, body: 'hi', headers: { 'content-type': 'text/plain' } })
  })

  it('refuses a bad body, an unknown path, a wrong method and an oversized body with registry codes, counting each', async () => {
    const refused: string[] = []
    await using s = await server(refused)
    const error = async (method: string, path: string, body?: string) => {
      const a = await call(s.url, method, path, body)
      return { status: a.status, code: (JSON.parse(a.body) as { error: { code: string } }).error.code, allow: a.headers.allow }
    }
    expect(await error('POST', '/sum', '{"values":')).toEqual({ status: 400, code: 'API_INVALID_REQUEST', allow: undefined })
    expect(await error('POST', '/sum', '{"values":["x"]}')).toMatchObject({ status: 400, code: 'API_INVALID_REQUEST' })
    expect(await error('POST', '/sum', '')).toMatchObject({ status: 400, code: 'API_INVALID_REQUEST' })
    expect(await error('GET', '/nope')).toMatchObject({ status: 404, code: 'API_NOT_FOUND' })
    expect(await error('DELETE', '/sum')).toEqual({ status: 405, code: 'API_METHOD_NOT_ALLOWED', allow: 'POST' })
    expect(await error('POST', '/sum', JSON.stringify({ values: Array.from({ length: 2000 }, () => 1) }))).toMatchObject({
      status: 413,
      code: 'API_BODY_TOO_LARGE',
    })
    expect(refused).toEqual([
      'API_INVALID_REQUEST',
      'API_INVALID_REQUEST',
      'API_INVALID_REQUEST',
      'API_NOT_FOUND',
      'API_METHOD_NOT_ALLOWED',
      'API_BODY_TOO_LARGE',
    ])
  })

  it('answers a handler error with its payload and the status the owner gives its code', async () => {
    await using s = await server()
    expect(JSON.parse((await call(s.url, 'GET', '/fail?model')).body)).toMatchObject({ error: { code: 'AGENT_NO_MODEL' } })
    expect((await call(s.url, 'GET', '/fail?model')).status).toBe(503)
    const internal = await call(s.url, 'GET', '/fail')
    expect(internal.status).toBe(500)
    expect(JSON.parse(internal.body)).toMatchObject({ error: { message: 'boom' } })
  })

  it('closes with a kept-alive connection open, once however often it is asked, and refuses a busy port', async () => {
    const s = await server()
    const agent = new Agent({ keepAlive: true })
    expect((await call(s.url, 'GET', '/echo?q=1', undefined, agent)).status).toBe(202)
    await Promise.all([s.close(), s.close()])
    await expect(call(s.url, 'GET', '/echo')).rejects.toThrow(/ECONNREFUSED/)
    agent.destroy()
    await using holder = await server()
    await expect(startHttpServer({ port: holder.port, routes: [] })).rejects.toThrow(/EADDRINUSE/)
  })
})
