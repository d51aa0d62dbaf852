import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTopics } from '@liquid-edge/protocol'
import { startTestBroker, waitFor, waitForMessage, type TestBroker } from '@liquid-edge/test/harness'
import { desired, status, telemetry, uid, closedEvent } from './fixtures.js'

let tb: TestBroker
let topics: ReturnType<typeof createTopics>

beforeAll(async () => {
  tb = await startTestBroker({ config: { limits: { publishRatePerSec: 5, publishBurst: 10, maxPacketBytes: 4096 } } })
  topics = createTopics(tb.root)
})
afterAll(async () => {
  await tb.close()
})

async function metricsText(): Promise<string> {
  const res = await fetch(`${tb.httpUrl}/metrics`)
  return res.text()
}

describe('validation at the edge', () => {
  it('drops and counts an invalid payload when a device sends one, and forwards the valid one after it', async () => {
    const id = uid()
    await using consumer = await tb.connect(uid('dash'), { role: 'consumer' })
    await consumer.subscribeAsync(topics.telemetry(id), { qos: 1 })
    const received: string[] = []
    consumer.on('message', (_t, p) => received.push(p.toString()))
    await using dev = await tb.connect(id)
    await dev.publishAsync(topics.telemetry(id), '{"v":1,"type":"telemetry"}', { qos: 1 })
    await dev.publishAsync(topics.telemetry(id), 'not json', { qos: 1 })
    await dev.publishAsync(topics.telemetry(id), telemetry(uid('someone-else')), { qos: 1 })
    await dev.publishAsync(topics.telemetry(id), telemetry(id, 42), { qos: 1 })
    await waitFor(() => received.length === 1)
    expect(JSON.parse(received[0] ?? '')).toMatchObject({ deviceId: id, body: { seq: 42 } })
    expect(tb.broker.clientStats(id)).toMatchObject({ invalidPayloads: 3, accepted: 1, lastInvalidCode: 'PROTO_DEVICE_MISMATCH' })
    const text = await metricsText()
    expect(text).toMatch(/lln_broker_invalid_payloads_total\{code="PROTO_INVALID_JSON"\} [1-9]/)
    expect(text).toMatch(/lln_broker_publishes_refused_total\{reason="invalid_payload"\} [3-9]/)
  })

  it('lets the controller clear a retained desired state with an empty payload, but not a device its status', async () => {
    const id = uid()
    await using ctl = await tb.connect(uid('ctl'), { role: 'controller' })
    await ctl.publishAsync(topics.desired(id), desired(id), { qos: 1, retain: true })
    await ctl.publishAsync(topics.desired(id), '', { qos: 1, retain: true })
    await using dev = await tb.connect(id)
    await dev.publishAsync(topics.status(id), status(id, true), { qos: 1, retain: true })
    await dev.publishAsync(topics.status(id), '', { qos: 1, retain: true })
    await using watcher = await tb.connect(uid('ctl'), { role: 'controller' })
    const first = waitForMessage<{ body: { online?: boolean; generation?: number } }>(watcher, () => true)
    await watcher.subscribeAsync(topics.status(id), { qos: 1 })
    expect((await first).payload.body.online).toBe(true) // the device's empty payload did not clear it
    // A retained desired state would arrive right after SUBACK, before anything published later.
    const firstDesired = waitForMessage<{ body: { generation: number } }>(watcher, topics.desired(id))
    await watcher.subscribeAsync(topics.desired(id), { qos: 1 })
    await ctl.publishAsync(topics.desired(id), desired(id, 2), { qos: 1 })
    expect((await firstDesired).payload.body.generation).toBe(2)
    expect(tb.broker.clientStats(id)).toMatchObject({ invalidPayloads: 1 })
  })

  it('forwards and retains the validated message, without the unknown fields a device added', async () => {
    await using own = await startTestBroker()
    const t = createTopics(own.root)
    const id = uid()
    await using live = await own.connect(uid('ctl'), { role: 'controller' })
    await live.subscribeAsync(t.status(id), { qos: 1 })
    const forwarded = waitForMessage<Record<string, unknown>>(live, t.status(id))
    await using dev = await own.connect(id)
    const padded = { ...(JSON.parse(status(id, true, 7).toString()) as object), padding: 'x'.repeat(60_000) }
    const sent = Buffer.from(JSON.stringify({ ...padded, body: { online: true, session: 7, extra: 'y'.repeat(1000) } }))
    await dev.publishAsync(t.status(id), sent, { qos: 1, retain: true })
    const stripped = (await forwarded).payload
    expect(stripped).not.toHaveProperty('padding')
    expect(stripped.body).toEqual({ online: true, session: 7 })
    // What was retained is the validated message too, as a later subscriber sees it.
    await using later = await own.connect(uid('ctl'), { role: 'controller' })
    const bytes = new Promise<Buffer>((resolve) =>
      later.once('message', (_t, payload) => {
        resolve(payload)
      }),
    )
    await later.subscribeAsync(t.status(id), { qos: 1 })
    const retained = await bytes
    expect(retained.byteLength).toBeLessThan(300)
    expect(JSON.parse(retained.toString())).toEqual(stripped)
  })

  it('forwards the validated message as the codec writes it: bytes sent that way pass as they are, any other spelling is rewritten', async () => {
    const id = uid()
    await using ctl = await tb.connect(uid('ctl'), { role: 'controller' })
    await ctl.subscribeAsync(topics.telemetry(id), { qos: 1 })
    const received: string[] = []
    ctl.on('message', (_t, p) => received.push(p.toString()))
    await using dev = await tb.connect(id)
    const canonical = telemetry(id, 1)
    // The same message with spaces and a duplicated key (JSON.parse keeps the last one; another
    // parser downstream might keep the first): valid, but not to be forwarded as sent.
    const respelled = Buffer.from(canonical.toString().replace('{"v":1,', '{ "v" : 1 , "v": "x", "v":1,'))
    expect(respelled.equals(canonical)).toBe(false)
    await dev.publishAsync(topics.telemetry(id), canonical, { qos: 1 })
    await dev.publishAsync(topics.telemetry(id), respelled, { qos: 1 })
    await waitFor(() => received.length === 2)
    expect(received).toEqual([canonical.toString(), canonical.toString()])
  })

  it('limits a flooding device while another device keeps flowing', async () => {
    const [flood, calm] = [uid('flood'), uid('calm')]
    await using ctl = await tb.connect(uid('ctl'), { role: 'controller' })
    await ctl.subscribeAsync([topics.telemetry(flood), topics.telemetry(calm)], { qos: 0 })
    const counts = new Map<string, number>()
    ctl.on('message', (t) => counts.set(t, (counts.get(t) ?? 0) + 1))
    await using a = await tb.connect(flood)
    await using b = await tb.connect(calm)
    const started = Date.now()
    for (let i = 0; i < 200; i++) a.publish(topics.telemetry(flood), telemetry(flood, i), { qos: 0 })
    for (let i = 0; i < 5; i++) await b.publishAsync(topics.telemetry(calm), telemetry(calm, i), { qos: 1 })
    await waitFor(() => counts.get(topics.telemetry(calm)) === 5)
    await waitFor(() => (tb.broker.clientStats(flood)?.rateLimited ?? 0) + (tb.broker.clientStats(flood)?.accepted ?? 0) === 200)
    const allowed = 10 + Math.ceil((5 * (Date.now() - started)) / 1000) // burst 10, then 5/s
    const stats = tb.broker.clientStats(flood)
    expect(stats?.accepted).toBeLessThanOrEqual(allowed)
    expect(stats?.rateLimited).toBeGreaterThanOrEqual(200 - allowed)
    await waitFor(() => counts.get(topics.telemetry(flood)) === stats?.accepted, { what: 'the accepted flood messages' })
    expect(await metricsText()).toMatch(/lln_broker_rate_limited_total [1-9]/)
  })

  it('closes the connection when a packet is over the maximum size', async () => {
    const id = uid()
    await using dev = await tb.connect(id)
    const closed = closedEvent(dev)
    dev.publish(topics.telemetry(id), Buffer.alloc(8192, 0x20), { qos: 0 })
    await closed
    expect(await metricsText()).toMatch(/lln_broker_packets_too_large_total [1-9]/)
  })
})

describe('operations endpoints', () => {
  it('reports ready and counts connected clients by role', async () => {
    await using _dev = await tb.connect(uid())
    const ready = await fetch(`${tb.httpUrl}/health/ready`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toMatchObject({ ready: true, live: true, persistence: 'memory', bridge: 'off' })
    expect((await fetch(`${tb.httpUrl}/health/live`)).status).toBe(200)
    const text = await metricsText()
    expect(text).toMatch(/lln_broker_clients_connected\{role="device"\} [1-9]/)
    expect(text).toMatch(/lln_broker_messages_in_total\{kind="telemetry"\} [1-9]/)
    expect(text).toMatch(/lln_broker_messages_out_total\{kind="telemetry"\} [1-9]/)
  })
})
