import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTopics } from '@liquid-edge/protocol'
import { startTestBroker, waitFor, type TestBroker } from '@liquid-edge/test/harness'
import { desired, status, uid } from './fixtures.js'

let tb: TestBroker
let t: ReturnType<typeof createTopics>

beforeAll(async () => {
  tb = await startTestBroker()
  t = createTopics(tb.root)
})
afterAll(async () => {
  await tb.close()
})

describe('retained messages on subscribe', () => {
  it('a device subscribing to its own topics gets its latest retained desired state and none of the others, and a cleared one is gone', async () => {
    const [a, b] = [uid(), uid()]
    await using controller = await tb.connect(uid('ctl'), { role: 'controller' })
    await controller.publishAsync(t.desired(a), desired(a, 1), { qos: 1, retain: true })
    await controller.publishAsync(t.desired(a), desired(a, 2), { qos: 1, retain: true })
    await controller.publishAsync(t.desired(b), desired(b, 1), { qos: 1, retain: true })
    await using device = await tb.connect(a)
    const got: { topic: string; generation: number }[] = []
    device.on('message', (topic, payload) => {
      if (payload.byteLength > 0)
        got.push({ topic, generation: (JSON.parse(payload.toString()) as { body: { generation: number } }).body.generation })
    })
    await device.subscribeAsync([t.desired(a), t.cmd(a)], { qos: 1 })
    await waitFor(() => got.length > 0, { what: 'the retained desired state' })
    // The SUBACK came first; a ping round trip later nothing else has arrived.
    await device.publishAsync(t.status(a), status(a, true), { qos: 1, retain: true })
    expect(got).toEqual([{ topic: t.desired(a), generation: 2 }])

    await controller.publishAsync(t.desired(a), '', { qos: 1, retain: true })
    await using again = await tb.connect(a, { clientId: a, clean: true })
    const after: string[] = []
    again.on('message', (topic) => after.push(topic))
    await again.subscribeAsync([t.desired(a)], { qos: 1 })
    await again.publishAsync(t.status(a), status(a, true, 2), { qos: 1, retain: true })
    expect(after).toEqual([])
  })

  it('a wildcard subscriber still gets every matching retained message', async () => {
    const ids = [uid(), uid(), uid()]
    for (const id of ids) {
      await using device = await tb.connect(id)
      await device.publishAsync(t.status(id), status(id, true), { qos: 1, retain: true })
    }
    await using watcher = await tb.connect(uid('ctl'), { role: 'controller' })
    const seen = new Set<string>()
    watcher.on('message', (topic) => seen.add(topic))
    await watcher.subscribeAsync(`${tb.root}/devices/+/status`, { qos: 1 })
    await waitFor(() => ids.every((id) => seen.has(t.status(id))), { what: 'every retained status' })
  })
})
