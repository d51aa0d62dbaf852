import { createServer } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import mqtt from 'mqtt'
import { createCodec, deviceMessage } from '@liquid-edge/protocol'
import { waitFor } from '@liquid-edge/test/harness'
import { runCli } from '../src/cli/program.js'
import { ADMIN, api } from './helpers.js'
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
    // Windows are complete only after their bucket closes: wait for it.
    const cohort = await waitFor(
      async () => (await call<Telemetry>('GET', '/v1/telemetry?spanMs=60000')).body.cohorts.find((x) => x.cohort === 'kws@3.1.0'),
      {
        timeoutMs: 5000,
      },
    )
    expect(cohort).toMatchObject({ windows: 7, devices: 2 })
    expect(cohort.errorRate).toBeCloseTo(5 / 70)
    expect(cohort.latencyP95Ms).toBeGreaterThanOrEqual(9)
    expect(cohort.latencyP95Ms).toBeLessThan(11)
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
    // The operator's view: `liquid-lln events` prints the decision.
    let out = ''
    const io = {
      stdout: (x: string) => (out += x),
      stderr: (x: string) => (out += x),
      env: { LLN_API_URL: c.url, LLN_TOKEN: ADMIN },
      isTTY: false,
    }
    expect(await runCli(['events', '--rollout', id], io)).toBe(0)
    expect(out).toMatch(/decision .*rule device-crashed/)
    out = ''
    expect(await runCli(['rollout', 'show', id], io)).toBe(0)
    expect(out).toMatch(/alerts and decisions:\n.*decision .*rule device-crashed/)
    out = ''
    expect(await runCli(['monitor', '--target', id, '--duration', '0.1'], io)).toBe(0)
    expect(out).toContain('kws@2.0.0')
    expect(out).toMatch(/device-crashed\s+breached\s+yes/)
    hook.close()
  })
})
