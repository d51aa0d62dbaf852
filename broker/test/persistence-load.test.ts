import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RedisCredentialStore } from '@liquid-edge/broker'
import { createTopics } from '@liquid-edge/protocol'
import { connectClient, credentialOptions, provisionTestCredential, uniqueRoot, waitFor } from '@liquid-edge/test/harness'
import { startRedisNodes, type RedisNodes } from './broker-process.js'
import { reported, telemetry, uid } from './fixtures.js'

const DEVICES = 100
const RETAINED_EACH = 20
const TELEMETRY_PER_RETAINED = 2

let nodes: RedisNodes
let store: RedisCredentialStore
beforeAll(async () => {
  nodes = await startRedisNodes()
  store = nodes.store
})
afterAll(async () => {
  await nodes[Symbol.asyncDispose]()
})

/** What a subscriber receives live: each `(device, generation)` of `reported` with how often, and the telemetry count. */
function tally(client: MqttClient): { reports: Map<string, number>; telemetry: number } {
  const t = { reports: new Map<string, number>(), telemetry: 0 }
  client.on('message', (topic, payload, packet) => {
    if (topic.endsWith('/telemetry')) t.telemetry++
    if (!topic.endsWith('/reported') || packet.retain) return
    const m = JSON.parse(payload.toString()) as { deviceId: string; body: { generation: number } }
    const key = `${m.deviceId}#${m.body.generation}`
    t.reports.set(key, (t.reports.get(key) ?? 0) + 1)
  })
  return t
}

/** One device's traffic: each retained QoS 1 report is followed at once by QoS 0 telemetry. */
async function publishAll(dev: MqttClient, id: string, topics: ReturnType<typeof createTopics>): Promise<void> {
  const acked: Promise<unknown>[] = []
  for (let g = 1; g <= RETAINED_EACH; g++) {
    acked.push(dev.publishAsync(topics.reported(id), reported(id, g), { qos: 1, retain: true }))
    for (let t = 0; t < TELEMETRY_PER_RETAINED; t++) dev.publish(topics.telemetry(id), telemetry(id, g * 10 + t), { qos: 0 })
  }
  await Promise.all(acked)
}

describe('redis persistence under mixed traffic, two broker processes', () => {
  it(`delivers each of ${DEVICES} devices × ${RETAINED_EACH} retained QoS 1 reports exactly once to a controller on either node`, async () => {
    const root = uniqueRoot()
    const topics = createTopics(root)
    await using a = await nodes.node('load-a', root)
    await using b = await nodes.node('load-b', root)
    const ids = Array.from({ length: DEVICES }, () => uid())
    const secrets = await Promise.all(ids.map((id) => provisionTestCredential(store, id)))
    const controllers = await Promise.all(
      [a, b].map(async (n) => {
        const id = uid('ctl')
        const client = await connectClient(n.url, credentialOptions(id, await provisionTestCredential(store, id, 'controller')))
        // As the controller does: its telemetry subscription is what overtakes the retained reports.
        await client.subscribeAsync([topics.allDevices('reported'), topics.allDevices('telemetry')], { qos: 1 })
        return { client, got: tally(client) }
      }),
    )
    const devices = await Promise.all(ids.map((id, i) => connectClient((i % 2 === 0 ? a : b).url, credentialOptions(id, secrets[i] ?? ''))))
    try {
      await Promise.all(devices.map((dev, i) => publishAll(dev, ids[i] ?? '', topics)))
      const expected = DEVICES * RETAINED_EACH
      for (const [i, { got }] of controllers.entries()) {
        const seen = got.reports
        await waitFor(() => seen.size >= expected, { timeoutMs: 30_000, what: `${expected} reports at controller ${i}` }).catch(
          (err: unknown) => {
            throw new Error(`controller ${i} got ${seen.size} of ${expected} distinct reports`, { cause: err })
          },
        )
        expect(seen.size).toBe(expected)
        for (const id of ids) for (let g = 1; g <= RETAINED_EACH; g++) expect(seen.get(`${id}#${g}`), `${id} generation ${g}`).toBe(1)
        // The telemetry flowed: it is what overtakes the reports.
        expect(got.telemetry).toBeGreaterThan(0)
      }
    } finally {
      await Promise.all([...devices, ...controllers.map((c) => c.client)].map((c) => c.endAsync(true)))
    }
  }, 120_000)
})
