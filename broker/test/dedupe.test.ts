import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Aedes, type AedesPublishPacket, type Client } from 'aedes'
import aedesPersistenceRedis from 'aedes-persistence-redis'
import { Redis } from 'ioredis'
import { createBroker, MemoryCredentialStore } from '@liquid-edge/broker'
import { createTopics } from '@liquid-edge/protocol'
import {
  connectClient,
  credentialOptions,
  provisionTestCredential,
  uniqueRoot,
  waitFor,
  startRedisServer,
  type ChildServer,
} from '@liquid-edge/test/harness'
import { reported, telemetry, uid } from './fixtures.js'

let redis: ChildServer & AsyncDisposable
beforeAll(async () => {
  redis = await startRedisServer()
})
afterAll(async () => {
  await redis[Symbol.asyncDispose]()
})

function publish(aedes: Aedes, packet: { topic: string; qos: 0 | 1; retain: boolean }): Promise<void> {
  return new Promise((resolve, reject) => {
    aedes.publish({ cmd: 'publish', dup: false, payload: Buffer.from('x'), ...packet }, (err?: Error | null) => {
      if (err) reject(err)
      else resolve()
    })
  })
}

describe('aedes 1.2 with aedes-persistence-redis (upstream, no Liquid Edge hooks)', () => {
  it('drops a retained QoS 1 publish that a later QoS 0 publish overtook (moscajs/aedes#994)', async () => {
    const forwarded: string[] = []
    const persistence = aedesPersistenceRedis({ conn: new Redis(redis.url) })
    const aedes = await Aedes.createBroker({
      persistence,
      // runs only for packets that passed aedes' per-client duplicate filter
      authorizeForward: (_client: Client, packet: AedesPublishPacket) => {
        forwarded.push(packet.topic)
        return packet
      },
    })
    const server = createServer(aedes.handle)
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      await using sub = await connectClient(`mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`)
      await sub.subscribeAsync('r/#', { qos: 1 })
      // The retained publish is numbered first but waits on Redis (storeRetained, the offline
      // queue); the QoS 0 one is emitted at once and raises the subscriber's high-water mark.
      await Promise.all([
        publish(aedes, { topic: 'r/reported', qos: 1, retain: true }),
        publish(aedes, { topic: 'r/telemetry', qos: 0, retain: false }),
      ])
      // Both publishes have run their course: whatever was forwarded has been forwarded.
      // When this starts failing, aedes fixed the bug and src/exact-dedupe.ts can go.
      expect(forwarded).toEqual(['r/telemetry'])
    } finally {
      await new Promise<void>((resolve) => {
        aedes.close(() => {
          resolve()
        })
      })
      await persistence.destroy()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

describe.each(['memory', 'redis'] as const)('Liquid Edge broker, %s persistence', (persistence) => {
  it('delivers a retained QoS 1 publish that a later QoS 0 one overtook, and one copy through overlapping subscriptions', async () => {
    const root = uniqueRoot()
    const topics = createTopics(root)
    const credentials = new MemoryCredentialStore()
    await using broker = await createBroker({
      credentials,
      config: { root, host: '127.0.0.1', tcp: { port: 0 }, http: { enabled: false }, persistence, redis: { url: redis.url } },
    })
    const [ctlId, devId] = [uid('ctl'), uid()]
    const secret = await provisionTestCredential(credentials, ctlId, 'controller')
    await using ctl = await connectClient(`mqtt://127.0.0.1:${broker.ports.tcp ?? 0}`, credentialOptions(ctlId, secret))
    // `+/reported` and the device's own `reported` overlap: one message, two matching subscriptions.
    await ctl.subscribeAsync([topics.allDevices('reported'), topics.reported(devId), topics.allDevices('telemetry')], { qos: 1 })
    // Live deliveries only: a retained copy the new subscription fetched (retain flag set) is not a duplicate.
    const got: number[] = []
    ctl.on('message', (topic, payload, packet) => {
      if (topic.endsWith('/reported') && !packet.retain)
        got.push((JSON.parse(payload.toString()) as { body: { generation: number } }).body.generation)
    })
    const send = (topic: string, payload: Buffer, qos: 0 | 1, retain: boolean) =>
      new Promise<void>((resolve) => {
        broker.aedes.publish({ cmd: 'publish', topic, payload, qos, retain, dup: false }, () => {
          resolve()
        })
      })
    await Promise.all([
      send(topics.reported(devId), reported(devId, 1), 1, true),
      send(topics.telemetry(devId), telemetry(devId), 0, false),
    ])
    // Published after both have run their course, the marker arrives after anything they delivered.
    await send(topics.reported(devId), reported(devId, 2), 1, true)
    await waitFor(() => got.includes(2))
    expect(got).toEqual([1, 2])
  })
})
