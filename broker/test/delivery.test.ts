import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTopics } from '@liquid-edge/protocol'
import { startTestBroker, waitFor, waitForMessage, type TestBroker } from '@liquid-edge/test/harness'
import type { Refusal } from '@liquid-edge/broker'
import { status, telemetry, uid } from './fixtures.js'

let tb: TestBroker
let t: ReturnType<typeof createTopics>

beforeAll(async () => {
  tb = await startTestBroker()
  t = createTopics(tb.root)
})
afterAll(async () => {
  await tb.close()
})

async function breaches(kind: string, breach: string): Promise<number> {
  const values = (await tb.broker.metrics.deliveryBreaches.get()).values
  return values.find((v) => v.labels.kind === kind && v.labels.breach === breach)?.value ?? 0
}

describe('the contract fixes QoS and retain per topic', () => {
  it('a retained telemetry window is delivered but not kept retained, and counted', async () => {
    const dev = uid()
    const before = await breaches('telemetry', 'retained')
    await using device = await tb.connect(dev)
    await using live = await tb.connect(uid('ctl'), { role: 'controller' })
    await live.subscribeAsync(t.telemetry(dev), { qos: 1 })
    const delivered = waitForMessage(live, t.telemetry(dev))
    await device.publishAsync(t.telemetry(dev), telemetry(dev, 1), { qos: 1, retain: true })
    await delivered
    expect(await breaches('telemetry', 'retained')).toBe(before + 1)
    // A subscriber arriving later finds no retained window: a status published after it arrives alone.
    await using late = await tb.connect(uid('ctl'), { role: 'controller' })
    const seen: string[] = []
    late.on('message', (topic) => seen.push(topic))
    await late.subscribeAsync([t.telemetry(dev), t.status(dev)], { qos: 1 })
    await device.publishAsync(t.status(dev), status(dev, true, 4), { qos: 1, retain: true })
    await waitFor(() => seen.includes(t.status(dev)), { what: 'the status' })
    expect(seen).toEqual([t.status(dev)])
  })

  it('a status published without retain is kept retained (a restarted controller must find it), and counted', async () => {
    const dev = uid()
    const before = await breaches('status', 'not_retained')
    await using device = await tb.connect(dev)
    await device.publishAsync(t.status(dev), status(dev, true, 9), { qos: 1, retain: false })
    await waitFor(async () => (await breaches('status', 'not_retained')) === before + 1, { what: 'the count' })
    await using late = await tb.connect(uid('ctl'), { role: 'controller' })
    const stored = waitForMessage<{ body: { session: number } }>(late, t.status(dev))
    await late.subscribeAsync(t.status(dev), { qos: 1 })
    const m = await stored
    expect(m.retain).toBe(true)
    expect(m.payload.body.session).toBe(9)
  })

  it('QoS 2 on a fleet topic is acknowledged and dropped with BROKER_QOS_NOT_ALLOWED; QoS 0 where 1 is due is delivered and counted', async () => {
    const dev = uid()
    const refusals: Refusal[] = []
    const onRefused = (r: Refusal) => refusals.push(r)
    tb.broker.on('refused', onRefused)
    try {
      await using device = await tb.connect(dev)
      await using live = await tb.connect(uid('ctl'), { role: 'controller' })
      await live.subscribeAsync(t.status(dev), { qos: 1 })
      const sessions: number[] = []
      live.on('message', (_topic, payload) => sessions.push((JSON.parse(payload.toString()) as { body: { session: number } }).body.session))
      const before = await breaches('status', 'qos0')
      await device.publishAsync(t.status(dev), status(dev, true, 1), { qos: 2, retain: true })
      await device.publishAsync(t.status(dev), status(dev, true, 2), { qos: 0, retain: true })
      await waitFor(() => sessions.includes(2), { what: 'the QoS 0 status' })
      expect(sessions).toEqual([2])
      expect(refusals).toEqual([expect.objectContaining({ clientId: dev, code: 'BROKER_QOS_NOT_ALLOWED', reason: 'qos_not_allowed' })])
      expect(await breaches('status', 'qos2')).toBeGreaterThanOrEqual(1)
      expect(await breaches('status', 'qos0')).toBe(before + 1)
    } finally {
      tb.broker.off('refused', onRefused)
    }
  })
})

describe('commands of a kind this broker does not know', () => {
  const future = (deviceId: string, kind: string) =>
    JSON.stringify({
      v: 1,
      type: 'command',
      id: `c-${uid('x')}`,
      ts: Date.now(),
      deviceId,
      body: { kind, expiresAt: Date.now() + 60_000, level: 3 },
    })

  it('reach the device from a controller (a newer controller), envelope checked, so the device can refuse them', async () => {
    const dev = uid()
    await using device = await tb.connect(dev)
    await device.subscribeAsync(t.cmd(dev), { qos: 1 })
    const got = waitForMessage<{ body: { kind: string; level: number } }>(device, t.cmd(dev))
    await using ctl = await tb.connect(uid('ctl'), { role: 'controller' })
    await ctl.publishAsync(t.cmd(dev), future(dev, 'self-destruct'), { qos: 1 })
    expect((await got).payload.body).toMatchObject({ kind: 'self-destruct', level: 3 })
  })

  it('are dropped when the envelope is wrong or the sender is not a controller', async () => {
    const dev = uid()
    await using device = await tb.connect(dev)
    await device.subscribeAsync(t.cmd(dev), { qos: 1 })
    const kinds: string[] = []
    device.on('message', (_topic, p) => kinds.push((JSON.parse(p.toString()) as { body: { kind: string } }).body.kind))
    await using ctl = await tb.connect(uid('ctl'), { role: 'controller' })
    await ctl.publishAsync(t.cmd(dev), future(uid('someone-else'), 'reboot'), { qos: 1 })
    await ctl.publishAsync(t.cmd(dev), future(dev, 'Not A Kind'), { qos: 1 })
    await ctl.publishAsync(t.cmd(dev), JSON.stringify({ ...JSON.parse(future(dev, 'x')), ts: 1_700_000_000 }), { qos: 1 })
    await ctl.publishAsync(t.cmd(dev), future(dev, 'marker'), { qos: 1 })
    await waitFor(() => kinds.includes('marker'), { what: 'the marker' })
    expect(kinds).toEqual(['marker'])
  })
})
