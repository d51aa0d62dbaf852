import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import mqtt from 'mqtt'
import { MemoryCredentialStore, createBroker, type BrokerConfigInput, type LiquidBroker } from '@liquid-edge/broker'
import { createTopics } from '@liquid-edge/protocol'
import {
  connectClient,
  credentialOptions,
  provisionTestCredential,
  uniqueRoot,
  waitForEvent,
  waitForMessage,
  startRedisServer,
  type ChildServer,
} from '@liquid-edge/test/harness'
import { desired, uid } from './fixtures.js'

// A redis-server of our own: aedes-persistence-redis and mqemitter-redis have no key/channel prefix.
let redis: ChildServer & AsyncDisposable
const credentials = new MemoryCredentialStore()
const root = uniqueRoot()
const topics = createTopics(root)

beforeAll(async () => {
  redis = await startRedisServer()
})
afterAll(async () => {
  await redis[Symbol.asyncDispose]()
})

function node(brokerId: string): Promise<LiquidBroker> {
  const config: BrokerConfigInput = {
    root,
    brokerId,
    host: '127.0.0.1',
    tcp: { port: 0 },
    http: { enabled: false },
    persistence: 'redis',
    redis: { url: redis.url },
  }
  return createBroker({ config, credentials })
}

const url = (b: LiquidBroker) => `mqtt://127.0.0.1:${b.ports.tcp ?? 0}`

describe('redis persistence and multi-node', () => {
  it('delivers across two nodes: live, retained, and an offline QoS 1 queue that follows the device', async () => {
    const [ctlId, devId] = [uid('ctl'), uid()]
    const ctlSecret = await provisionTestCredential(credentials, ctlId, 'controller')
    const devSecret = await provisionTestCredential(credentials, devId)
    await using a = await node('node-a')
    await using b = await node('node-b')
    await using ctl = await connectClient(url(b), credentialOptions(ctlId, ctlSecret))
    // live: device on A, controller publishes through B
    const dev = await connectClient(url(a), { ...credentialOptions(devId, devSecret), clean: false })
    await dev.subscribeAsync([topics.desired(devId), topics.cmd(devId)], { qos: 1 })
    const live = waitForMessage<{ body: { generation: number } }>(dev, topics.desired(devId))
    await ctl.publishAsync(topics.desired(devId), desired(devId, 5), { qos: 1, retain: true })
    expect((await live).payload.body.generation).toBe(5)
    // offline queue: the device leaves A, a QoS 1 message is published through B while it is away
    await dev.endAsync()
    await ctl.publishAsync(topics.desired(devId), desired(devId, 6), { qos: 1, retain: true })
    // the device comes back to B with its persistent session
    await using back = await connectClient(url(b), { ...credentialOptions(devId, devSecret), clean: false })
    const queued = await waitForMessage<{ body: { generation: number } }>(back, topics.desired(devId), (m) => m.body.generation === 6)
    expect(queued.payload.body.generation).toBe(6)
    // retained: written through B, read by a fresh session on A
    await using fresh = await connectClient(url(a), credentialOptions(devId, devSecret))
    const retained = waitForMessage<{ body: { generation: number } }>(fresh, topics.desired(devId))
    await fresh.subscribeAsync(topics.desired(devId), { qos: 1 })
    expect((await retained).payload.body.generation).toBe(6)
  })

  it('answers a returning persistent session with its CONNACK before any message, however busy its topic', async () => {
    const [ctlId, devId] = [uid('ctl'), uid()]
    const ctlSecret = await provisionTestCredential(credentials, ctlId, 'controller')
    const devSecret = await provisionTestCredential(credentials, devId)
    await using n = await node('busy-node')
    await using ctl = await connectClient(url(n), credentialOptions(ctlId, ctlSecret))
    const dev = await connectClient(url(n), { ...credentialOptions(devId, devSecret), clean: false })
    await dev.subscribeAsync(topics.desired(devId), { qos: 1 })
    await dev.endAsync()
    // QoS 0, so nothing piles up in the session's queue while it is away
    const stop = new AbortController()
    const flood = (async () => {
      for (let g = 1; !stop.signal.aborted; g++) await ctl.publishAsync(topics.desired(devId), desired(devId, g), { qos: 0 })
    })()
    try {
      for (let i = 0; i < 5; i++) {
        const back = mqtt.connect(url(n), { ...credentialOptions(devId, devSecret), clean: false, reconnectPeriod: 0 })
        const first = await waitForEvent<string>(
          (deliver) => {
            const onPacket = (p: { cmd: string }) => {
              deliver(p.cmd)
            }
            back.once('packetreceive', onPacket)
            return () => back.off('packetreceive', onPacket)
          },
          { what: 'the first packet of the returning session' },
        )
        await back.endAsync(true)
        expect(first).toBe('connack')
      }
    } finally {
      stop.abort()
      await flood
    }
  })
})
