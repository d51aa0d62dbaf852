import { describe, expect, it } from 'vitest'
import { createCodec, credentialChannel, credentialKey, CredentialRecordSchema, deviceMessage } from '@liquid-edge/protocol'
import { connectClient, redisClient, waitFor, waitForMessage } from '@liquid-edge/test/harness'
import { verifySecret } from '../src/index.js'
import { api, makePackage, newPublisher, setupFleet, testEnv } from './helpers.js'

describe('HTTP API', () => {
  it('api refuses bad input with 4xx and changes nothing', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const call = api(c)
    await setupFleet(c, env, 2)
    const before = await c.repo.list()
    const bad: [string, string, unknown][] = [
      ['POST', '/v1/rollouts', { model: { name: 'kws', version: 'one' }, target: 'env=staging' }],
      ['POST', '/v1/rollouts', { model: { name: 'kws', version: '2.0.0' }, target: 'env=staging', strategy: 'sideways' }],
      ['POST', '/v1/rollouts', { model: { name: 'kws', version: '2.0.0' }, target: 'env in (', steps: [] }],
      ['POST', '/v1/rollouts', { model: { name: 'kws', version: '2.0.0' }, target: 'env=staging', extra: 1 }],
      ['POST', '/v1/rollback', { target: 'env=staging' }],
      ['POST', '/v1/rollback', { target: 'env=staging', rolloutId: 'r-1', toPrevious: true }],
      ['POST', '/v1/devices', { id: 'bad/id' }],
      ['PATCH', '/v1/devices/dev-0', { set: { 'bad key': 'x' } }],
    ]
    for (const [method, path, body] of bad) {
      const res = await call<{ error: { code: string } }>(method, path, body)
      expect(res.status, `${method} ${path} ${JSON.stringify(body)}`).toBeGreaterThanOrEqual(400)
      expect(res.status).toBeLessThan(500)
      expect(res.body.error.code).toMatch(/^(API_INVALID_REQUEST|REGISTRY_INVALID_SELECTOR)$/)
    }
    expect(await c.repo.list()).toEqual(before)
    expect((await c.registry.get('dev-0')).labels).toEqual({ env: 'staging', hw: 'stm32h743' })
    expect((await call('GET', '/v1/rollouts/r-missing')).status).toBe(404)
    expect((await call('POST', '/v1/rollouts', { model: { name: 'kws', version: '9.0.0' }, target: 'env=staging' })).status).toBe(404)
  })

  it('a read-only token can read but cannot deploy; no token is 401', async () => {
    await using env = await testEnv()
    const c = await env.start()
    await setupFleet(c, env, 2)
    const reader = await c.tokens.create('viewer', ['read'])
    const asReader = api(c, reader)
    expect((await asReader('GET', '/v1/devices')).status).toBe(200)
    const denied = await asReader<{ error: { code: string } }>('POST', '/v1/rollouts', {
      model: { name: 'kws', version: '2.0.0' },
      target: 'env=staging',
    })
    expect(denied.status).toBe(403)
    expect(denied.body.error.code).toBe('API_FORBIDDEN')
    expect((await api(c, 'nope')('GET', '/v1/devices')).status).toBe(401)
    expect((await fetch(`${c.url}/v1/devices`)).status).toBe(401)
    expect(await c.repo.list()).toEqual([])
    const redis = redisClient()
    const stored = JSON.stringify(await redis.hgetall(`${env.prefix}:tokens`))
    await redis.quit()
    expect(stored).not.toContain(reader)
  })

  it('device add provisions a credential in the shared layout, and remove revokes it and clears retained topics', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const redis = redisClient()
    const sub = redisClient()
    const announced: string[] = []
    await sub.subscribe(credentialChannel(env.prefix))
    sub.on('message', (_ch, id: string) => announced.push(id))
    const res = await api(c)<{ secret: string }>('POST', '/v1/devices', { id: 'cam-1', labels: { env: 'staging' } })
    expect(res.status).toBe(201)
    const record = CredentialRecordSchema.parse(JSON.parse((await redis.get(credentialKey('cam-1', env.prefix))) ?? 'null'))
    expect(record).toMatchObject({ id: 'cam-1', role: 'device' })
    expect(record.hash).toMatch(/^scrypt\$32768\$8\$1\$/)
    expect(await verifySecret(res.body.secret, record.hash)).toBe(true)
    expect((await api(c)('POST', '/v1/devices', { id: 'cam-1' })).status).toBe(409)
    await using observer = await connectClient(env.broker.url)
    const codec = createCodec({ root: env.root })
    await observer.publishAsync(
      codec.topics.status('cam-1'),
      Buffer.from(codec.encode(deviceMessage('status', 'cam-1', { online: true, session: 1 }))),
      { qos: 1, retain: true },
    )
    await waitFor(async () => (await c.live.views(['cam-1']))[0]?.status?.online === true)
    expect((await api(c)('DELETE', '/v1/devices/cam-1')).status).toBe(200)
    expect(await redis.get(credentialKey('cam-1', env.prefix))).toBeNull()
    await waitFor(() => announced.filter((id) => id === 'cam-1').length === 2, { what: 'add and revoke announced' })
    await observer.subscribeAsync(codec.topics.status('cam-1'))
    await expect(waitForMessage(observer, codec.topics.status('cam-1'), () => true, { timeoutMs: 300 })).rejects.toThrow(/timed out/)
    expect((await api(c)('GET', '/v1/devices/cam-1')).status).toBe(404)
    await sub.quit()
    await redis.quit()
  })

  it('live view keeps a newer online when a stale offline of an older session arrives late', async () => {
    await using env = await testEnv()
    const c = await env.start()
    await c.registry.addMany([{ id: 'd1', labels: {} }])
    await using client = await connectClient(env.broker.url)
    const codec = createCodec({ root: env.root })
    const send = (online: boolean, session: number) =>
      client.publishAsync(codec.topics.status('d1'), Buffer.from(codec.encode(deviceMessage('status', 'd1', { online, session }))), {
        qos: 1,
        retain: true,
      })
    await send(true, 5)
    await waitFor(async () => (await c.live.views(['d1']))[0]?.status?.session === 5)
    await send(false, 4)
    await send(true, 5)
    await send(false, 3)
    await waitFor(async () => (await c.live.views(['d1']))[0]?.status?.online === true)
    expect((await c.live.views(['d1']))[0]?.status).toMatchObject({ online: true, session: 5 })
    await send(false, 5)
    await waitFor(async () => (await c.live.views(['d1']))[0]?.status?.online === false)
  })

  it('model store refuses bad packages, serves artifacts with Range and ETag, and refuses deleting a model in use', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const call = api(c)
    const pkg = makePackage(env.publisher, 'kws', '1.0.0', 4000)
    const stranger = makePackage(newPublisher(), 'kws', '1.0.1')
    expect((await call<{ error: { code: string } }>('POST', '/v1/models', stranger)).body.error.code).toBe('PACKAGE_SIGNATURE_INVALID')
    const broken = pkg.slice()
    broken[40] = (broken[40] ?? 0) ^ 0xff
    expect((await call('POST', '/v1/models', broken)).status).toBeGreaterThanOrEqual(400)
    const pushed = await call<{ model: { sha256: string }; created: boolean }>('POST', '/v1/models', pkg)
    expect(pushed.status).toBe(201)
    expect((await call<{ created: boolean }>('POST', '/v1/models', pkg)).body.created).toBe(false)
    const url = `${c.url}/artifacts/${pushed.body.model.sha256}`
    const full = await fetch(url)
    expect(Buffer.from(await full.arrayBuffer()).equals(Buffer.from(pkg))).toBe(true)
    const etag = full.headers.get('etag') ?? ''
    expect((await fetch(url, { headers: { 'if-none-match': etag } })).status).toBe(304)
    const part = await fetch(url, { headers: { range: 'bytes=100-199' } })
    expect(part.status).toBe(206)
    expect(part.headers.get('content-range')).toBe(`bytes 100-199/${pkg.byteLength}`)
    expect(Buffer.from(await part.arrayBuffer()).equals(Buffer.from(pkg.subarray(100, 200)))).toBe(true)
    expect((await fetch(url, { headers: { range: `bytes=${pkg.byteLength + 5}-` } })).status).toBe(416)
    await c.registry.addMany([{ id: 'u1', labels: { env: 'x' } }])
    await c.rollouts.deploy({ model: { name: 'kws', version: '1.0.0' }, target: 'env=x', strategy: 'all' })
    expect((await call<{ error: { code: string } }>('DELETE', '/v1/models/kws/1.0.0')).body.error.code).toBe('MODEL_IN_USE')
  })

  it('serves health, an OpenAPI document generated from the schemas, and Prometheus metrics', async () => {
    await using env = await testEnv()
    const c = await env.start()
    expect(await (await fetch(`${c.url}/health`)).json()).toEqual({ ok: true })
    const doc = (await (await fetch(`${c.url}/openapi.json`)).json()) as {
      openapi: string
      paths: Record<
        string,
        Record<string, { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> } }>
      >
    }
    expect(doc.openapi).toMatch(/^3\./)
    expect(Object.keys(doc.paths['/v1/rollouts/{id}'] ?? {})).toContain('get')
    expect(Object.keys(doc.paths['/v1/rollouts']?.post?.requestBody?.content['application/json']?.schema.properties ?? {})).toContain(
      'strategy',
    )
    await api(c)('GET', '/v1/devices')
    const metrics = await (await fetch(`${c.url}/metrics`)).text()
    expect(metrics).toContain('lln_api_request_duration_seconds')
    expect(metrics).toContain('lln_desired_writes_total')
  })
})
