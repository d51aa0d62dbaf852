import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MqttClient } from 'mqtt'
import { createTopics } from '@liquid-edge/protocol'
import { startTestBroker, waitFor, waitForMessage, type TestBroker } from '@liquid-edge/test/harness'
import { desired, telemetry, uid } from './fixtures.js'

let tb: TestBroker
let topics: ReturnType<typeof createTopics>

beforeAll(async () => {
  tb = await startTestBroker()
  topics = createTopics(tb.root)
})
afterAll(async () => {
  await tb.close()
})

/** The SUBACK return code for one filter: the QoS granted, or 128 (0x80) when refused. */
async function subscribeGranted(client: MqttClient, filter: string): Promise<number> {
  try {
    const granted = await client.subscribeAsync(filter, { qos: 1 })
    return granted[0]?.qos ?? -1
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet
    if (packet?.granted === undefined) throw err
    return packet.granted[0] ?? -1
  }
}

describe('authorization', () => {
  it('device reads only its own desired state when the controller sets several', async () => {
    const [a, b] = [uid('a'), uid('b')]
    await using ctl = await tb.connect(uid('ctl'), { role: 'controller' })
    await ctl.publishAsync(topics.desired(a), desired(a, 1), { qos: 1, retain: true })
    await ctl.publishAsync(topics.desired(b), desired(b, 7), { qos: 1, retain: true })
    await using dev = await tb.connect(a)
    const own = waitForMessage<{ deviceId: string }>(dev, topics.desired(a))
    expect(await subscribeGranted(dev, topics.desired(a))).toBe(1)
    expect((await own).payload.deviceId).toBe(a)
    // [MQTT-3.9.3-1] 0x80 for the refused filter; the connection stays
    expect(await subscribeGranted(dev, topics.desired(b))).toBe(128)
    expect(dev.connected).toBe(true)
  })

  it('device cannot subscribe to every device or to # when it tries wildcards', async () => {
    await using dev = await tb.connect(uid())
    expect(await subscribeGranted(dev, topics.allDevices('cmd'))).toBe(128)
    expect(await subscribeGranted(dev, '#')).toBe(128)
    expect(await subscribeGranted(dev, '$SYS/#')).toBe(128)
    expect(dev.connected).toBe(true)
    expect(tb.broker.clientStats(dev.options.clientId ?? '')?.subscribesRefused).toBe(3)
  })

  it('device publish on another device topic is acknowledged, dropped and counted when QoS is 1', async () => {
    const [a, b] = [uid('a'), uid('b')]
    await using consumer = await tb.connect(uid('dash'), { role: 'consumer' })
    await consumer.subscribeAsync(topics.allDevices('telemetry'), { qos: 1 })
    const seen: string[] = []
    consumer.on('message', (t) => seen.push(t))
    await using dev = await tb.connect(a)
    let reconnects = 0
    dev.on('close', () => reconnects++)
    // resolves only on PUBACK: no disconnect, so no QoS 1 re-send loop (TECH-NOTES §1.7)
    await dev.publishAsync(topics.telemetry(b), telemetry(b), { qos: 1 })
    await dev.publishAsync(topics.telemetry(a), telemetry(a), { qos: 1 })
    await waitFor(() => seen.includes(topics.telemetry(a)))
    expect(seen).not.toContain(topics.telemetry(b))
    expect(reconnects).toBe(0)
    expect(tb.broker.clientStats(a)).toMatchObject({ notAuthorized: 1, accepted: 1 })
  })

  it('nobody publishes to $SYS or outside the root when even the controller tries', async () => {
    const id = uid('ctl')
    await using ctl = await tb.connect(id, { role: 'controller' })
    await ctl.publishAsync(`$SYS/${tb.broker.id}/heartbeat`, 'x', { qos: 1 })
    await ctl.publishAsync('other/topic', 'x', { qos: 1 })
    expect(tb.broker.clientStats(id)).toMatchObject({ notAuthorized: 2 })
    expect(ctl.connected).toBe(true)
  })

  it('gateway publishes for its children only when it speaks for several ids', async () => {
    const [gw, child, stranger] = [uid('gw'), uid('mcu'), uid('x')]
    await using ctl = await tb.connect(uid('ctl'), { role: 'controller' })
    await ctl.subscribeAsync(topics.allDevices('telemetry'), { qos: 1 })
    const seen: string[] = []
    ctl.on('message', (t) => seen.push(t))
    await using gateway = await tb.connect(gw, { role: 'gateway', children: [child] })
    expect(await subscribeGranted(gateway, topics.cmd(child))).toBe(1)
    expect(await subscribeGranted(gateway, topics.cmd(stranger))).toBe(128)
    await gateway.publishAsync(topics.telemetry(stranger), telemetry(stranger), { qos: 1 })
    await gateway.publishAsync(topics.telemetry(child), telemetry(child), { qos: 1 })
    await gateway.publishAsync(topics.telemetry(gw), telemetry(gw), { qos: 1 })
    await waitFor(() => seen.includes(topics.telemetry(gw)) && seen.includes(topics.telemetry(child)))
    expect(seen).not.toContain(topics.telemetry(stranger))
  })

  it('consumer reads telemetry, status and events but publishes nothing when it tries', async () => {
    const id = uid('dash')
    await using consumer = await tb.connect(id, { role: 'consumer' })
    expect(await subscribeGranted(consumer, topics.allDevices('status'))).toBe(1)
    expect(await subscribeGranted(consumer, topics.allDevices('desired'))).toBe(128)
    await consumer.publishAsync(topics.telemetry(id), telemetry(id), { qos: 1 })
    expect(tb.broker.clientStats(id)).toMatchObject({ notAuthorized: 1, accepted: 0 })
  })
})
