import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emptyLatency, mergeLatency, type TelemetryBody } from '@liquid-edge/protocol'
import { startPlainBroker, startTcpProxy, waitFor, type PlainBroker } from '@liquid-edge/test/harness'
import { OfflineBuffer } from '../src/telemetry/offline-buffer.js'
import { createFixture } from './support/fixture.js'

let broker: PlainBroker
beforeAll(async () => {
  broker = await startPlainBroker()
})
afterAll(async () => {
  await broker.close()
})

describe('agent telemetry', () => {
  it('sends one window per period with counts, quantiles and null for unknown sensors', async () => {
    await using fx = await createFixture(broker.url)
    const { agent, driver } = await fx.startAgent({ driverOptions: { sensors: { temperatureC: 41.5 } } })
    await fx.desired(1, fx.model({ version: '1.0.0' }))
    await fx.waitPhase('active', 1)
    driver.faults.latencyMs = 2
    for (let i = 0; i < 10; i++) await agent.infer(Float32Array.from([1, 2, 3, 4]))
    const w = await waitFor(() => fx.telemetry.find((t) => t.inferences === 10))
    expect(w).toMatchObject({ model: { name: 'fake-model', version: '1.0.0' }, errors: 0, energy: null, memory: null, temperatureC: 41.5 })
    expect(w.latencyMs?.p50).toBeCloseTo(2, 1)
    expect(w.latencyMs?.max).toBe(2)
    expect(w.windowMs).toBeGreaterThanOrEqual(90)
    // The mergeable statistics: exact count, sum, extremes; one histogram bucket holds all ten.
    expect(w.latency).toMatchObject({ count: 10, sumMs: 20, minMs: 2, maxMs: 2, histogram: { counts: [10] } })
    expect(w.temperature).toEqual({ maxC: 41.5, meanC: 41.5, samples: 1 })
    expect(w.hardware).toBe(driver.hardware)
  })

  it('counts failed attempts in inferences, measures energy over its span, and takes outside samples', async () => {
    await using fx = await createFixture(broker.url)
    const { agent, driver } = await fx.startAgent({ driverOptions: { sensors: { powerMw: 250 } } })
    await fx.desired(1, fx.model({ version: '1.0.0' }))
    await fx.waitPhase('active', 1)
    driver.faults.latencyMs = 3
    for (let i = 0; i < 4; i++) await agent.infer(Float32Array.from([1, 2, 3, 4]))
    driver.faults.errorEvery = 1
    for (let i = 0; i < 2; i++) await agent.infer(Float32Array.from([1, 2, 3, 4])).catch(() => undefined)
    // An MCU's own loop ran 5 more, one of them failed, 4 at 10 ms.
    agent.recordSamples({
      attempts: 5,
      errors: 1,
      latency: { count: 4, sumMs: 40, minMs: 10, maxMs: 10, histogram: { bins: [461], counts: [4] } },
      energyJoules: 0.002,
    })
    // Whichever windows they fell in, the windows add up to exactly what ran.
    await waitFor(() => fx.telemetry.reduce((n, t) => n + t.inferences, 0) >= 11, { what: 'windows with the 11 attempts' })
    const sum = (f: (t: TelemetryBody) => number) => fx.telemetry.reduce((n, t) => n + f(t), 0)
    expect(sum((t) => t.inferences)).toBe(11)
    expect(sum((t) => t.errors)).toBe(3)
    const merged = emptyLatency()
    for (const t of fx.telemetry) if (t.latency != null) mergeLatency(merged, t.latency)
    expect(merged).toMatchObject({ count: 8, sumMs: 52, minMs: 3, maxMs: 10 })
    for (const t of fx.telemetry) {
      expect(t.energy?.source).toBe('meter')
      expect(t.energy?.avgMw).toBeCloseTo(250, 9)
      // The meter's average covers the time since the previous reading: joules = power × that span.
      expect(t.energy?.joules).toBeCloseTo((250 * (t.energy?.measuredMs ?? 0)) / 1e6, 12)
    }
  })

  it('buffers windows offline and sends them in order with no gaps on reconnect', async () => {
    await using proxy = await startTcpProxy(broker.port)
    await using fx = await createFixture(broker.url, { agentUrl: proxy.url })
    const { agent } = await fx.startAgent()
    await waitFor(() => fx.telemetry.length >= 2)
    proxy.cut()
    await waitFor(() => !agent.connected)
    await waitFor(() => agent.bufferedWindows >= 5, { what: '5 buffered windows' })
    proxy.restore()
    const resumedFrom = fx.telemetry.length
    await waitFor(() => fx.telemetry.length >= resumedFrom + 8, { what: 'the buffered windows and live ones' })
    const seqs = fx.telemetry.map((t) => t.seq)
    expect(seqs).toEqual(seqs.map((_, i) => (seqs[0] ?? 0) + i))
    expect(fx.telemetry.every((t) => t.dropped === 0)).toBe(true)
  })

  it('drops the oldest windows when the buffer is full and reports how many', async () => {
    await using proxy = await startTcpProxy(broker.port)
    await using fx = await createFixture(broker.url, { agentUrl: proxy.url })
    const { agent } = await fx.startAgent({ telemetryBufferWindows: 3 })
    await waitFor(() => fx.telemetry.length >= 1)
    proxy.cut()
    await waitFor(() => !agent.connected)
    const before = fx.telemetry.at(-1)?.seq ?? 0
    await waitFor(() => agent.state.telemetrySeq > before + 8, { what: 'windows closed offline' })
    proxy.restore()
    const after = await waitFor(() => fx.telemetry.find((t) => t.seq > before && t.dropped > 0), { what: 'a window reporting drops' })
    const firstAfter = fx.telemetry.find((t) => t.seq > before)
    expect(firstAfter).toBe(after)
    expect(after.seq - before - 1).toBe(after.dropped)
  })
})

describe('offline buffer', () => {
  it('survives a reopen and keeps the newest windows within capacity', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lln-buf-'))
    try {
      const path = join(dir, 'buf.jsonl')
      const buf = await OfflineBuffer.open(path, 4)
      const win = (seq: number) => ({
        seq,
        windowStart: 1_700_000_000_000 + 1000 * seq,
        windowMs: 1000,
        model: null,
        inferences: 0,
        errors: 0,
        latencyMs: null,
        energy: null,
        temperatureC: null,
        memory: null,
        dropped: 0,
      })
      for (let i = 0; i < 30; i++) await buf.push(win(i))
      expect(buf.dropped).toBe(26)
      const again = await OfflineBuffer.open(path, 4)
      expect(again.peek(10).map((w) => w.seq)).toEqual([26, 27, 28, 29])
      await again.shift(2)
      const third = await OfflineBuffer.open(path, 4)
      expect(third.peek(10).map((w) => w.seq)).toEqual([28, 29])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('agent local HTTP', () => {
  it('serves POST /inference, /health and /metrics, and answers 400 with a reason to bad input', async () => {
    await using fx = await createFixture(broker.url)
    const { agent } = await fx.startAgent({ http: { port: 0 } })
    const base = agent.httpUrl ?? ''
    const post = (body: string) => fetch(`${base}/inference`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })
    const noModel = await post('{"input":[1,2,3,4]}')
    expect(noModel.status).toBe(503)
    expect((await fetch(`${base}/health`)).status).toBe(503)
    await fx.desired(1, fx.model({ version: '1.0.0' }))
    await fx.waitPhase('active', 1)
    const ok = await post('{"input":[1,2,3,4]}')
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ output: [3, 5], modelVersion: '1.0.0', latencyMs: 0.05 })
    const shape = await post('{"input":[1,2,3]}')
    expect(shape.status).toBe(400)
    const shapeBody = (await shape.json()) as { error: { code: string; message: string } }
    expect(shapeBody.error.code).toBe('AGENT_INPUT_SHAPE')
    expect(shapeBody.error.message).toContain('expects 4')
    const junk = await post('{"input":')
    expect(junk.status).toBe(400)
    expect(await junk.json()).toMatchObject({ error: { code: 'AGENT_INPUT_SHAPE' } })
    const notNumbers = await post('{"input":["a"]}')
    expect(notNumbers.status).toBe(400)
    const health = await fetch(`${base}/health`)
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({ status: 'ok', model: { version: '1.0.0' }, phase: 'active', connected: true })
    const metrics = await (await fetch(`${base}/metrics`)).text()
    expect(metrics).toContain('lln_agent_inferences_total{result="ok"} 1')
    expect(metrics).toContain('lln_agent_refused_total{code="AGENT_INPUT_SHAPE"} 3')
    expect(metrics).toContain('lln_agent_phase{phase="active"} 1')
    await waitFor(() => fx.telemetry.find((t) => t.inferences === 1), { what: 'the HTTP inference counted in telemetry' })
  })
})
