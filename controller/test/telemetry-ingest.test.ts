import { createServer } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import mqtt from 'mqtt'
import { createCodec, deviceMessage } from '@liquid-edge/protocol'
import { waitFor } from '@liquid-edge/test/harness'
import { api } from './helpers.js'
import { TelemetryPublisher, telemetryEnv } from './telemetry/env.js'
import { V1, V2, byModel, scenario } from './telemetry/scenario.js'

type Cohort = { cohort: string; windows: number; devices: number; errorRate: number | null; latencyP95Ms: number | null; gaps: number }
type Telemetry = { cohorts: Cohort[]; ingest: { received: number; folded: number; invalid: number; gaps: number } }

describe('telemetry ingest', () => {
  it('ingest folds windows per cohort, counts invalid payloads and sequence gaps', async () => {
    await using env = await telemetryEnv({ telemetryBucketMs: 1000 })
    const c = await env.start()
    await using pub = await TelemetryPublisher.connect(env.broker.url, env.root)
    const model = { name: 'kws', version: '3.1.0' }
    for (let i = 0; i < 5; i++) pub.publish('dev-a', { model, inferences: 10, errors: 1, latencyMs: { p50: 4, p95: 9, p99: 10, max: 12 } })
    pub.publish('dev-b', { model, inferences: 10, errors: 0 })
    pub.window('dev-b', {}) // seq 1 never sent
    pub.window('dev-b', {}) // seq 2 never sent
    pub.publish('dev-b', { model, inferences: 10, errors: 0 })
    pub.publishRaw(createCodec({ root: env.root }).topics.telemetry('dev-c'), '{"not":"telemetry"}')
    pub.publishRaw(createCodec({ root: env.root }).topics.telemetry('dev-c'), Buffer.from([0xff, 0xfe]))
    const call = api(c)
    const t = await waitFor(
      async () => {
        const body = (await call<Telemetry>('GET', '/v1/telemetry?spanMs=60000')).body
        return body.ingest.folded >= 7 && body.ingest.invalid >= 2 ? body : null
      },
      { what: 'folded windows' },
    )
    expect(t.ingest.gaps).toBe(2)
    // The live view keeps each device's last window (written once per batch, the last one wins).
    const [a] = await c.live.views(['dev-a'])
    expect(a?.telemetry).toMatchObject({ model: 'kws@3.1.0' })
    expect(a?.lastHeardAt).toBeGreaterThan(0)
    // Windows are complete only after their bucket closes: wait for it.
    const cohort = await waitFor(
      async () => {
        const found = (await call<Telemetry>('GET', '/v1/telemetry?spanMs=60000')).body.cohorts.find((x) => x.cohort === 'kws@3.1.0')
        return found !== undefined && found.windows >= 7 ? found : null
      },
      { timeoutMs: 5000, what: 'every window of the cohort in complete buckets' },
    )
    expect(cohort).toMatchObject({ windows: 7, devices: 2 })
    expect(cohort.errorRate).toBeCloseTo(5 / 70)
    expect(cohort.latencyP95Ms).toBeGreaterThanOrEqual(9)
    expect(cohort.latencyP95Ms).toBeLessThan(11)
  })

  it('two replicas on one MQTT stream fold each window once; the other takes the duty over when the holder stops', async () => {
    await using env = await telemetryEnv({ telemetryBucketMs: 1000, dutyLeaseMs: 600 })
    const a = await env.start('replica-a')
    const b = await env.start('replica-b')
    await using pub = await TelemetryPublisher.connect(env.broker.url, env.root)
    const model = { name: 'kws', version: '4.0.0' }
    const replicas = [a, b]
    // Every replica receives every window: it is folded by one, and left by the other.
    const accounted = (n: number) => () =>
      replicas.every((c) => c.telemetry.ingest.counters.received + c.telemetry.ingest.counters.standby >= n) &&
      replicas.reduce((sum, c) => sum + c.telemetry.ingest.counters.folded, 0) >= n
    for (let i = 0; i < 10; i++) pub.publish('dev-a', { model, inferences: 10, errors: i % 2 })
    await waitFor(accounted(10), { what: 'both replicas to account for every window' })
    expect(replicas.map((c) => c.telemetry.ingest.counters.folded).sort()).toEqual([0, 10])
    // The holder stops below: ask the other.
    const [holder, other] = a.telemetry.ingest.counters.folded > 0 ? [a, b] : [b, a]
    const windows = async () =>
      (await api(other)<Telemetry>('GET', '/v1/telemetry?spanMs=60000')).body.cohorts.find((x) => x.cohort === 'kws@4.0.0')?.windows ?? 0
    await waitFor(async () => (await windows()) >= 10, { timeoutMs: 5000, what: 'the windows in complete buckets' })
    expect(await windows()).toBe(10)
    // The holder stops: the other replica takes the duty over and folds what comes next.
    await holder.close()
    await waitFor(() => other.telemetry.duty?.held === true, { what: 'the other replica to take the duty' })
    for (let i = 0; i < 5; i++) pub.publish('dev-a', { model, inferences: 10, errors: 0 })
    await waitFor(() => other.telemetry.ingest.counters.folded >= 5, { what: 'the new holder to fold' })
    await waitFor(async () => (await windows()) >= 15, { timeoutMs: 5000, what: 'every window in complete buckets' })
    expect(await windows()).toBe(15)
  })

  it('a crash event rolls that device back and posts the decision to the webhook', async () => {
    const posted: unknown[] = []
    const hook = createServer((req, res) => {
      let body = ''
      req.on('data', (d: Buffer) => (body += d.toString()))
      req.on('end', () => {
        posted.push(JSON.parse(body))
        res.end()
      })
    })
    hook.listen(0, '127.0.0.1')
    await once(hook, 'listening')
    await using env = await telemetryEnv({ alertWebhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts` })
    const c = await env.start()
    await using s = await scenario(env, c)
    const id = await s.deployV2([{ name: 'device-crashed', metric: 'crashed', threshold: 0, windowMs: 60_000, action: 'rollback-device' }])
    s.telemetry.run(s.ids, byModel(s.devices, {}))
    const codec = createCodec({ root: env.root })
    const client = await mqtt.connectAsync(env.broker.url, { reconnectPeriod: 0 })
    await client.publishAsync(
      codec.topics.events('dev-1'),
      Buffer.from(codec.encode(deviceMessage('event', 'dev-1', { event: 'crashed', model: V2 }))),
      { qos: 1 },
    )
    await client.endAsync()
    const dev1 = s.devices.find((d) => d.id === 'dev-1')!
    // Sent back by a new retained desired state (so an offline device would converge on return).
    await waitFor(() => dev1.active?.version === V1.version, { timeoutMs: 10_000, what: 'dev-1 back on V1' })
    expect(dev1.desiredSeen).toEqual([1, 2, 3]) // V1, this rollout (V2), then the revert to V1
    expect(s.devices.filter((d) => d.id !== 'dev-1').every((d) => d.active?.version === V2.version)).toBe(true)
    const hookEvent = await waitFor(() => posted.find((p) => (p as { action?: string }).action === 'rollback-device'))
    expect(hookEvent).toMatchObject({ event: 'decision', rolloutId: id, evidence: { rule: 'device-crashed', devices: ['dev-1'] } })
    s.telemetry.stop()
    // What the operator's `liquid-lln events`, `rollout show` and `monitor` read.
    const call = api(c)
    const events = (await call<{ events: { event: string; message: string }[] }>('GET', `/v1/events?limit=1000&rollout=${id}`)).body
    expect(events.events.find((e) => e.event === 'decision')?.message).toMatch(/rule device-crashed/)
    const rules = (
      await call<{ states: { results: { rule: string; outcome: string; firing: boolean }[] } }>('GET', `/v1/rollouts/${id}/rules`)
    ).body
    expect(rules.states.results.find((r) => r.rule === 'device-crashed')).toMatchObject({ outcome: 'breached', firing: true })
    hook.close()
  })
})
