import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { redisClient, startFakeDevices, waitFor } from '@liquid-edge/test/harness'
import { compareStreamIds } from '../src/console/live-hub.js'
import type { Controller } from '../src/index.js'
import { api, ADMIN, setupFleet, testEnv, waitForState } from './helpers.js'
import { TelemetryPublisher } from './telemetry/env.js'

interface SseEvent {
  id: string | null
  event: string
  data: unknown
}

/** A server-sent event stream read with fetch, as the console reads it. */
async function openStream(c: Controller, o: { token?: string; lastEventId?: string; backlog?: number } = {}) {
  const ac = new AbortController()
  const res = await fetch(`${c.url}/v1/stream${o.backlog === undefined ? '' : `?backlog=${o.backlog}`}`, {
    headers: { authorization: `Bearer ${o.token ?? ADMIN}`, ...(o.lastEventId === undefined ? {} : { 'last-event-id': o.lastEventId }) },
    signal: ac.signal,
  })
  const events: SseEvent[] = []
  let ended = false
  const pump = (async () => {
    if (res.body === null) return
    const decoder = new TextDecoder()
    let buf = ''
    try {
      for await (const chunk of res.body) {
        buf += decoder.decode(chunk as Uint8Array, { stream: true })
        let cut: number
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, cut)
          buf = buf.slice(cut + 2)
          const fields = new Map<string, string>()
          for (const line of block.split('\n')) {
            const i = line.indexOf(':')
            if (i > 0) fields.set(line.slice(0, i), line.slice(i + 1).trimStart())
          }
          const data = fields.get('data')
          if (data !== undefined)
            events.push({ id: fields.get('id') ?? null, event: fields.get('event') ?? 'message', data: JSON.parse(data) as unknown })
        }
      }
    } catch {
      // aborted by the test
    }
    ended = true
  })()
  return {
    res,
    events,
    ended: () => ended,
    of: (event: string) => events.filter((e) => e.event === event),
    async close() {
      ac.abort()
      await pump
    },
  }
}

describe('console live stream', () => {
  it('stream replays exactly the audit records a client missed when it reconnects with Last-Event-ID', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const call = api(c)
    const fleet = await setupFleet(c, env, 4)
    await using _devices = await startFakeDevices({ url: env.broker.url, root: env.root }, fleet.ids)
    const first = await openStream(c)
    expect(first.res.headers.get('content-type')).toMatch(/^text\/event-stream/)
    await waitFor(() => first.of('hello').length === 1, { what: 'hello' })
    const deploy = await call<{ id: string }>('POST', '/v1/rollouts', {
      model: { name: 'kws', version: '1.0.0' },
      target: 'env=staging',
      strategy: 'all',
    })
    const created = await waitFor(() => first.of('audit').find((e) => (e.data as { rolloutId: string }).rolloutId === deploy.body.id), {
      what: 'the first audit record of the rollout',
    })
    expect(first.of('rollout').some((e) => (e.data as { id: string }).id === deploy.body.id)).toBe(true)
    await first.close()

    // While nobody listens the rollout completes; the reconnect brings every record after the last one seen, once.
    await waitForState(c, deploy.body.id, 'completed')
    const redis = redisClient()
    const all = await redis.xrange(`${env.prefix}:audit`, '-', '+')
    await redis.quit()
    const missed = all.map(([id]) => id).filter((id) => compareStreamIds(id, created.id ?? '0-0') > 0)
    expect(missed.length).toBeGreaterThan(0)
    const again = await openStream(c, { lastEventId: created.id ?? '' })
    await waitFor(() => again.of('hello').length === 1)
    expect(again.of('hello')[0]?.data).toMatchObject({ replayed: missed.length, gap: false })
    expect(again.of('audit').map((e) => e.id)).toEqual(missed)
    await again.close()

    // A first connection asks for a backlog instead.
    const fresh = await openStream(c, { backlog: 3 })
    await waitFor(() => fresh.of('hello').length === 1)
    expect(fresh.of('audit').map((e) => e.id)).toEqual(all.slice(-3).map(([id]) => id))
    await fresh.close()
  })

  it('stream refuses a missing token and ends when the token is revoked', async () => {
    await using env = await testEnv()
    const c = await env.start()
    expect((await fetch(`${c.url}/v1/stream`)).status).toBe(401)
    const reader = await c.tokens.create('viewer', ['read'])
    const s = await openStream(c, { token: reader })
    await waitFor(() => s.of('hello').length === 1)
    const redis = redisClient()
    const tokens = await redis.hgetall(`${env.prefix}:tokens`)
    const digest = Object.entries(tokens).find(([, v]) => v.includes('"viewer"'))?.[0] ?? ''
    await redis.hdel(`${env.prefix}:tokens`, digest)
    await redis.quit()
    const ended = await waitFor(() => s.of('unauthorized')[0], { timeoutMs: 15_000, what: 'the stream to end for a revoked token' })
    expect((ended.data as { message: string }).message).toMatch(/no longer accepts/)
    await waitFor(() => s.ended(), { what: 'the connection to close' })
    await s.close()
  })

  it('stream counts once against the request rate limits, however many events it carries', async () => {
    // Two requests per address and per token, refilled at one a minute: the stream is one of them.
    await using env = await testEnv({ apiAddressRate: 1 / 60, apiAddressBurst: 2, apiTokenRate: 1 / 60, apiTokenBurst: 2 })
    const c = await env.start()
    const fleet = await setupFleet(c, env, 3)
    const s = await openStream(c)
    expect(s.res.status).toBe(200)
    const devices = await startFakeDevices({ url: env.broker.url, root: env.root }, fleet.ids)
    await waitFor(() => s.of('fleet').length >= 1, { what: 'the devices online' })
    await devices[Symbol.asyncDispose]()
    await waitFor(() => s.of('fleet').length >= 2, { what: 'the devices offline' })
    expect(s.ended()).toBe(false)
    // The events did not use up the budget: one more request fits, the one after is refused.
    const get = () => fetch(`${c.url}/v1/whoami`, { headers: { authorization: `Bearer ${ADMIN}` } })
    expect((await get()).status).toBe(200)
    expect((await get()).status).toBe(429)
    await s.close()
  })

  it('stream sends device changes and closes with the controller', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const fleet = await setupFleet(c, env, 3)
    const s = await openStream(c)
    await waitFor(() => s.of('hello').length === 1)
    await using _devices = await startFakeDevices({ url: env.broker.url, root: env.root }, fleet.ids)
    const changed = await waitFor(() => s.of('fleet').flatMap((e) => (e.data as { devices: string[] }).devices)[0], {
      what: 'a fleet event',
    })
    expect(fleet.ids).toContain(changed)
    await c.close()
    await waitFor(() => s.ended(), { what: 'the stream to end when the controller closes' })
  })
})

describe('console fleet routes', () => {
  it('fleet pages filter by target, id fragment and phase, and counts cover the whole filter', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const call = api(c)
    const fleet = await setupFleet(c, env, 240)
    await using _devices = await startFakeDevices({ url: env.broker.url, root: env.root }, fleet.ids.slice(0, 10))
    await waitFor(
      async () => (await call<{ summary: { phase: Record<string, number> } }>('GET', '/v1/fleet/summary')).body.summary.phase.idle === 10,
      {
        what: '10 devices to report idle',
      },
    )
    type Page = {
      total: number
      offset: number
      devices: { id: string; phase: string | null; labels: Record<string, string>; groups: string[] }[]
    }
    const page = await call<Page>('GET', '/v1/fleet/devices?offset=100&limit=50')
    expect(page.body.total).toBe(240)
    expect(page.body.devices).toHaveLength(50)
    expect(page.body.devices[0]?.id).toBe([...fleet.ids].sort()[100])
    const hw = await call<Page>('GET', `/v1/fleet/devices?target=${encodeURIComponent('hw=stm32h743')}&limit=500`)
    expect(hw.body.total).toBe(120)
    expect(hw.body.devices.every((d) => d.labels.hw === 'stm32h743')).toBe(true)
    const frag = await call<Page>('GET', '/v1/fleet/devices?q=dev-23')
    expect(frag.body.devices.map((d) => d.id).sort()).toEqual([
      'dev-23',
      'dev-230',
      'dev-231',
      'dev-232',
      'dev-233',
      'dev-234',
      'dev-235',
      'dev-236',
      'dev-237',
      'dev-238',
      'dev-239',
    ])
    const idle = await call<Page>('GET', '/v1/fleet/devices?phase=idle')
    expect(idle.body.total).toBe(10)
    const unknown = await call<Page>('GET', '/v1/fleet/devices?phase=unknown&limit=1')
    expect(unknown.body.total).toBe(230)
    // Saved groups: each row names the groups it is in, the counts count them, a group name is a target.
    expect((await call('POST', '/v1/groups', { name: 'stm', selector: 'hw=stm32h743' })).status).toBe(201)
    const grouped = await call<Page>('GET', '/v1/fleet/devices?limit=2')
    expect(grouped.body.devices.map((x) => [x.labels.hw, x.groups])).toEqual([
      ['stm32h743', ['stm']],
      ['rpi4', []],
    ])
    expect((await call<Page>('GET', '/v1/fleet/devices?target=stm')).body.total).toBe(120)
    expect((await call<{ summary: { group: Record<string, number> } }>('GET', '/v1/fleet/summary')).body.summary.group).toEqual({
      stm: 120,
    })
    const summary = await call<{ total: number; summary: Record<string, Record<string, number>> }>(
      'GET',
      `/v1/fleet/summary?target=${encodeURIComponent('hw=stm32h743')}`,
    )
    expect(summary.body.total).toBe(120)
    expect(Object.values(summary.body.summary.phase ?? {}).reduce((a, b) => a + b, 0)).toBe(120)
    const bad = await call<{ error: { code: string } }>('GET', `/v1/fleet/devices?target=${encodeURIComponent('env in (')}`)
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('REGISTRY_INVALID_SELECTOR')
  })

  it('whoami names the token and its scopes', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const reader = await c.tokens.create('viewer', ['read'])
    expect((await api(c, reader)('GET', '/v1/whoami')).body).toEqual({ name: 'viewer', scopes: ['read'] })
    expect((await api(c, 'wrong')('GET', '/v1/whoami')).status).toBe(401)
  })
})

describe('console page and charts', () => {
  it('serves the built console at /ui/ with a strict policy, and says how to build it when it is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lln-console-'))
    mkdirSync(join(dir, 'assets'))
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>console</title>')
    writeFileSync(join(dir, 'assets', 'app-abc123.js'), 'export {}')
    try {
      await using env = await testEnv()
      const c = await env.start(undefined, { consoleDir: dir })
      const page = await fetch(`${c.url}/ui/`)
      expect(page.status).toBe(200)
      expect(await page.text()).toContain('<title>console</title>')
      expect(page.headers.get('content-security-policy')).toContain("default-src 'self'")
      expect(page.headers.get('cache-control')).toBe('no-cache')
      const asset = await fetch(`${c.url}/ui/assets/app-abc123.js`)
      expect(asset.headers.get('cache-control')).toContain('immutable')
      expect((await fetch(`${c.url}/`, { redirect: 'manual' })).headers.get('location')).toBe('/ui/')
      expect((await fetch(`${c.url}/ui/../package.json`)).status).toBe(404)
      const missing = await env.start(undefined, { consoleDir: join(dir, 'nowhere') })
      const notBuilt = await fetch(`${missing.url}/ui/`)
      expect(notBuilt.status).toBe(503)
      expect(await notBuilt.text()).toContain('npm run build')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('telemetry series gives each cohort its figures per time step', async () => {
    await using env = await testEnv({ telemetryBucketMs: 100, telemetryFlushMs: 20 })
    const c = await env.start()
    await using pub = await TelemetryPublisher.connect(env.broker.url, env.root)
    const from = Date.now()
    const model = { name: 'kws', version: '1.0.0' }
    pub.run(['a', 'b'], () => ({ model, inferences: 10, errors: 1, latencyMs: { p50: 4, p95: 6, p99: 8, max: 9 } }), 50)
    type Series = { stepMs: number; series: { cohort: string; points: { at: number; errorRate: number; latencyP95Ms: number }[] }[] }
    const got = await waitFor(
      async () => {
        const res = await api(c)<Series>('GET', `/v1/telemetry/series?from=${from}&to=${Date.now()}&cohorts=kws@1.0.0`)
        return (res.body.series[0]?.points.length ?? 0) >= 3 ? res.body : null
      },
      { what: 'three points of the kws@1.0.0 series' },
    )
    pub.stop()
    expect(got.stepMs).toBe(100)
    const points = got.series[0]?.points ?? []
    expect(points.every((p) => Math.abs(p.errorRate - 0.1) < 1e-9)).toBe(true)
    expect(points.map((p) => p.at)).toEqual([...points.map((p) => p.at)].sort((a, b) => a - b))
    const bad = await api(c)('GET', `/v1/telemetry/series?from=${from}&to=${from - 1}`)
    expect(bad.status).toBe(400)
  })
})

describe('promote', () => {
  it('promote ends the bake of the current step at once; a finished rollout cannot be promoted', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const call = api(c)
    const fleet = await setupFleet(c, env, 8)
    await using _devices = await startFakeDevices({ url: env.broker.url, root: env.root }, fleet.ids)
    const res = await call<{ id: string }>('POST', '/v1/rollouts', {
      model: { name: 'kws', version: '1.0.0' },
      target: 'env=staging',
      steps: [{ percent: 25 }, { percent: 100 }],
      bakeMs: 3_600_000,
    })
    expect(res.status, JSON.stringify(res.body)).toBe(201)
    const id = res.body.id
    await waitFor(async () => (await c.repo.get(id)).bakeUntil !== null, { timeoutMs: 15_000, what: 'the first step to bake' })
    expect((await call('POST', `/v1/rollouts/${id}/promote`)).status).toBe(200)
    await waitFor(async () => (await c.repo.get(id)).step === 1, { timeoutMs: 15_000, what: 'step 1 to start' })
    await waitFor(async () => (await c.repo.get(id)).bakeUntil !== null, { timeoutMs: 15_000, what: 'the last step to bake' })
    expect((await call('POST', `/v1/rollouts/${id}/promote`)).status).toBe(200)
    await waitForState(c, id, 'completed')
    const again = await call<{ error: { code: string } }>('POST', `/v1/rollouts/${id}/promote`)
    expect(again.status).toBe(409)
    expect(again.body.error.code).toBe('ROLLOUT_INVALID_TRANSITION')
    const events = await call<{ events: { event: string; message: string }[] }>('GET', `/v1/events?rollout=${id}`)
    expect(events.body.events.filter((e) => e.event === 'rollout-promoted')).toHaveLength(2)
  })
})
