import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RedisCredentialStore } from '@liquid-edge/broker'
import { createTopics } from '@liquid-edge/protocol'
import { connectClient, credentialOptions, provisionTestCredential, uniqueRoot, waitFor } from '@liquid-edge/test/harness'
import { startRedisNodes, type RedisNodes } from './broker-process.js'
import { desired, telemetry, uid } from './fixtures.js'

const DEVICES = 10

let nodes: RedisNodes
let store: RedisCredentialStore
beforeAll(async () => {
  nodes = await startRedisNodes()
  store = nodes.store
})
afterAll(async () => {
  await nodes[Symbol.asyncDispose]()
})

/** The generation of each device's retained desired state, as a new subscriber gets it. */
async function retainedGenerations(url: string, ids: readonly string[], root: string): Promise<Map<string, number>> {
  const id = uid('ctl')
  await using reader = await connectClient(url, credentialOptions(id, await provisionTestCredential(store, id, 'controller')))
  const got = new Map<string, number>()
  reader.on('message', (_topic, payload, packet) => {
    if (!packet.retain) return
    const m = JSON.parse(payload.toString()) as { deviceId: string; body: { generation: number } }
    got.set(m.deviceId, m.body.generation)
  })
  await reader.subscribeAsync(createTopics(root).allDevices('desired'), { qos: 1 })
  await waitFor(() => ids.every((d) => got.has(d)), { what: 'every retained desired state' })
  return got
}

describe('a broker process killed with SIGKILL, redis persistence', () => {
  it('keeps every acknowledged retained message and every persistent session, killed at a random point under traffic', async () => {
    const root = uniqueRoot()
    const topics = createTopics(root)
    let broker = await nodes.node('crash-node', root)
    try {
      const ids = Array.from({ length: DEVICES }, () => uid())
      const secrets = await Promise.all(ids.map((id) => provisionTestCredential(store, id)))
      const device = (i: number, url: string) =>
        connectClient(url, { ...credentialOptions(ids[i] ?? '', secrets[i] ?? ''), clean: false, resubscribe: false })
      const devices: MqttClient[] = await Promise.all(ids.map((_, i) => device(i, broker.url)))
      for (const d of devices) d.on('error', () => undefined)
      await Promise.all(devices.map((d, i) => d.subscribeAsync(topics.desired(ids[i] ?? ''), { qos: 1 })))
      const ctlId = uid('ctl')
      const ctl = await connectClient(broker.url, credentialOptions(ctlId, await provisionTestCredential(store, ctlId, 'controller')))
      ctl.on('error', () => undefined)

      // Traffic: each round, a new retained desired generation for every device and a telemetry window from each.
      const acked = new Map<string, number>()
      let total = 0
      const traffic = (async () => {
        for (let g = 1; ctl.connected; g++) {
          const sent = ids.map(async (id, i) => {
            devices[i]?.publish(topics.telemetry(id), telemetry(id, g), { qos: 0 })
            await ctl.publishAsync(topics.desired(id), desired(id, g), { qos: 1, retain: true })
            acked.set(id, g)
            total++
          })
          await Promise.allSettled(sent)
        }
      })()
      const killAt = 1 + Math.floor(Math.random() * 30 * DEVICES)
      await waitFor(() => total >= killAt, { timeoutMs: 60_000, what: `${killAt} acknowledged publishes` })
      await broker.kill()
      // Ending the clients fails the publishes still waiting for a PUBACK, so the traffic stops.
      await Promise.all([ctl, ...devices].map((c) => c.endAsync(true)))
      await traffic
      const at = `killed after ${killAt} acknowledged publishes (${total} by the time it died)`

      broker = await nodes.node('crash-node', root, broker.port)
      const retained = await retainedGenerations(broker.url, ids, root)
      for (const id of ids) expect(retained.get(id), `${id}: ${at}`).toBeGreaterThanOrEqual(acked.get(id) ?? 0)

      // The sessions survived too: back without subscribing, each device gets what is published now.
      const back = await Promise.all(ids.map((_, i) => device(i, broker.url)))
      try {
        const next = new Map<string, number>()
        back.forEach((d) =>
          d.on('message', (_topic, payload) => {
            const m = JSON.parse(payload.toString()) as { deviceId: string; body: { generation: number } }
            next.set(m.deviceId, Math.max(next.get(m.deviceId) ?? 0, m.body.generation))
          }),
        )
        await using ctl2 = await connectClient(
          broker.url,
          credentialOptions(ctlId, await provisionTestCredential(store, ctlId, 'controller')),
        )
        await Promise.all(ids.map((id) => ctl2.publishAsync(topics.desired(id), desired(id, 1_000_000), { qos: 1, retain: true })))
        await waitFor(() => ids.every((id) => next.get(id) === 1_000_000), { what: `every device's session delivering (${at})` })
      } finally {
        await Promise.all(back.map((c) => c.endAsync(true)))
      }
    } finally {
      await broker.kill()
    }
  }, 120_000)
})
