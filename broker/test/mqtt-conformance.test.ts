/**
 * MQTT 3.1.1 conformance where aedes leaves it open or where our hooks could break it, each test
 * named by its clause. Generic clients log in anonymously: the broker runs in development mode.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectClient, startTestBroker, waitFor, waitForMessage, type TestBroker } from '@liquid-edge/test/harness'
import { byteByByte, connectPacket, publishPacket, rawExchange } from './raw-mqtt.js'
import { uid } from './fixtures.js'

let tb: TestBroker
const CONNACK_OK = Buffer.from([0x20, 0x02, 0x00, 0x00])
const CONNACK_UNACCEPTABLE_PROTOCOL = Buffer.from([0x20, 0x02, 0x00, 0x01])

beforeAll(async () => {
  tb = await startTestBroker({ config: { auth: { allowAnonymous: true } } })
})
afterAll(async () => {
  await tb.close()
})

const anonymous = (options: { clientId?: string } = {}) => connectClient(tb.url, { clientId: options.clientId ?? uid('anon') })

async function refusedLevels(): Promise<number> {
  const values = (await tb.broker.metrics.loginsRefused.get()).values
  return values.find((v) => v.labels.reason === 'protocol_level')?.value ?? 0
}

describe('MQTT 3.1.1 conformance', () => {
  it.each([5, 6, 2, 0, 255])(
    '[MQTT-3.1.2-2] a CONNECT with protocol level %i gets CONNACK 0x01 and the connection is closed',
    async (level) => {
      const before = await refusedLevels()
      const r = await rawExchange(tb.port, [connectPacket(level, uid('lvl'))])
      expect(r.received.subarray(0, 4)).toEqual(CONNACK_UNACCEPTABLE_PROTOCOL)
      expect(r.received.length).toBe(4)
      expect(r.closed).toBe(true)
      expect(await refusedLevels()).toBe(before + 1)
    },
  )

  it('[MQTT-3.1.2-2] the level is judged also when the CONNECT arrives one byte per segment', async () => {
    const refused = await rawExchange(tb.port, byteByByte(connectPacket(6, uid('lvl'))))
    expect(refused.received).toEqual(CONNACK_UNACCEPTABLE_PROTOCOL)
    expect(refused.closed).toBe(true)
    const accepted = await rawExchange(tb.port, byteByByte(connectPacket(4, uid('ok'))), (got) => got.length >= 4)
    expect(accepted.received.subarray(0, 4)).toEqual(CONNACK_OK)
  })

  it('[MQTT-3.1.2-1] a CONNECT with another protocol name is closed without a CONNACK', async () => {
    const r = await rawExchange(tb.port, [connectPacket(4, uid('name'), { name: 'MQTX' })])
    expect(r.closed).toBe(true)
    expect(r.received.length).toBe(0)
  })

  it('[MQTT-3.1.0-2] a second CONNECT on the same connection closes it', async () => {
    const id = uid('twice')
    const r = await rawExchange(tb.port, [connectPacket(4, id), connectPacket(4, id)])
    expect(r.received.subarray(0, 4)).toEqual(CONNACK_OK)
    expect(r.closed).toBe(true)
  })

  it('[MQTT-3.3.2-2] a PUBLISH whose topic name holds a wildcard closes the connection', async () => {
    const r = await rawExchange(tb.port, [connectPacket(4, uid('wild')), publishPacket('app/+/x', 'hi')])
    expect(r.received.subarray(0, 4)).toEqual(CONNACK_OK)
    expect(r.closed).toBe(true)
  })

  it.each([
    ['wildcard first', true],
    ['exact filter first', false],
  ])('[MQTT-3.3.5-1] overlapping subscriptions deliver at the highest QoS of the matching filters (%s)', async (_name, wildcardFirst) => {
    const base = `app/${uid('ov')}`
    await using sub = await anonymous()
    const filters: [string, 0 | 1][] = [
      [`${base}/#`, 0],
      [`${base}/a`, 1],
    ]
    for (const [filter, qos] of wildcardFirst ? filters : filters.reverse()) await sub.subscribeAsync(filter, { qos })
    const qos: number[] = []
    sub.on('message', (_t, _p, packet) => qos.push(packet.qos))
    await using pub = await anonymous()
    await pub.publishAsync(`${base}/a`, 'x', { qos: 1 })
    await waitFor(() => qos.length >= 1, { what: 'a delivery' })
    expect(Math.max(...qos)).toBe(1)
  })

  it('[MQTT-3.8.4-6] a message reaches a wildcard subscription at no more than the QoS granted to it', async () => {
    const base = `app/${uid('cap')}`
    await using sub = await anonymous()
    await sub.subscribeAsync(`${base}/+`, { qos: 1 })
    const qos: number[] = []
    sub.on('message', (_t, _p, packet) => qos.push(packet.qos))
    await using pub = await anonymous()
    await pub.publishAsync(`${base}/x`, 'x', { qos: 2 })
    await waitFor(() => qos.length >= 1, { what: 'the delivery' })
    expect(qos).toEqual([1])
  })

  it('[MQTT-3.3.1-9] [MQTT-3.3.1-6] the retain flag is 0 to existing subscribers and 1 for a new subscription', async () => {
    const topic = `app/${uid('ret')}/state`
    await using early = await anonymous()
    await early.subscribeAsync(topic, { qos: 1 })
    const live = waitForMessage(early, topic)
    await using pub = await anonymous()
    await pub.publishAsync(topic, '{"v":1}', { qos: 1, retain: true })
    expect((await live).retain).toBe(false)
    await using late = await anonymous()
    const stored = waitForMessage(late, topic)
    await late.subscribeAsync(topic, { qos: 1 })
    expect((await stored).retain).toBe(true)
  })

  it('[MQTT-3.8.4-3] a repeated SUBSCRIBE sends the retained message again', async () => {
    const topic = `app/${uid('resub')}/state`
    await using pub = await anonymous()
    await pub.publishAsync(topic, '{"n":1}', { qos: 1, retain: true })
    await using sub = await anonymous()
    const first = waitForMessage(sub, topic)
    await sub.subscribeAsync(topic, { qos: 1 })
    await first
    const again = waitForMessage(sub, topic)
    await sub.subscribeAsync(topic, { qos: 1 })
    expect((await again).retain).toBe(true)
  })

  it('[MQTT-3.3.1-10] [MQTT-3.3.1-11] a zero-byte retained publish removes the retained message and is not stored', async () => {
    const topic = `app/${uid('clear')}/state`
    await using pub = await anonymous()
    await pub.publishAsync(topic, 'old', { qos: 1, retain: true })
    await pub.publishAsync(topic, '', { qos: 1, retain: true })
    await using sub = await anonymous()
    const seen: string[] = []
    sub.on('message', (t) => seen.push(t))
    await sub.subscribeAsync(topic, { qos: 1 })
    // A marker published after the SUBSCRIBE arrives after any retained message would have.
    await pub.publishAsync(topic, 'marker', { qos: 1 })
    await waitFor(() => seen.length >= 1, { what: 'the marker' })
    expect(seen).toEqual([topic])
  })

  it('[MQTT-4.7.2-1] a # subscription does not match topics that begin with $', async () => {
    await using sub = await anonymous()
    const topics: string[] = []
    sub.on('message', (t) => topics.push(t))
    await sub.subscribeAsync('#', { qos: 0 })
    const marker = `app/${uid('dollar')}`
    await using pub = await anonymous()
    await pub.publishAsync(marker, 'x', { qos: 1 })
    await waitFor(() => topics.includes(marker), { what: 'the marker' })
    expect(topics.filter((t) => t.startsWith('$'))).toEqual([])
  })
})
