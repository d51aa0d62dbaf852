/**
 * What the agent and the controller need from a broker, checked on a 3-node NATS cluster through
 * its MQTT listeners: retained desired states, QoS 1 delivery and sessions, and the Last Will —
 * across nodes, and after the node that took a message dies. Each client uses the delivery the
 * protocol prescribes for its topic (`DELIVERY`).
 */
import mqtt from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DELIVERY, createTopics } from '@liquid-edge/protocol'
import {
  connectClient,
  startNatsCluster,
  startTcpProxy,
  uniqueRoot,
  waitFor,
  waitForMessage,
  type NatsCluster,
} from '@liquid-edge/test/harness'

let cluster: NatsCluster
const root = uniqueRoot()
const topics = createTopics(root)

beforeAll(async () => {
  cluster = await startNatsCluster()
}, 120_000)

afterAll(() => cluster.close(), 60_000)

const url = (i: number): string => cluster.mqttUrls[i] ?? ''
const json = (value: unknown): string => JSON.stringify(value)

describe('MQTT on a 3-node NATS cluster', () => {
  it('a retained desired state written through one node is read through the others', async () => {
    await using controller = await connectClient(url(0), { clientId: 'ctl-retained' })
    await controller.publishAsync(topics.desired('ret-1'), json({ generation: 1 }), DELIVERY.desired)
    for (const i of [1, 2]) {
      await using device = await connectClient(url(i), { clientId: `ret-1-on-${i}` })
      const got = waitForMessage<{ generation: number }>(device, topics.desired('ret-1'), undefined, { timeoutMs: 20_000 })
      await device.subscribeAsync(topics.desired('ret-1'), { qos: 1 })
      expect(await got).toMatchObject({ payload: { generation: 1 }, retain: true })
    }
  }, 60_000)

  it('a QoS 1 command published on one node reaches a device on another, once', async () => {
    await using device = await connectClient(url(2), { clientId: 'cmd-1' })
    await device.subscribeAsync(topics.cmd('cmd-1'), { qos: 1 })
    const received: unknown[] = []
    device.on('message', (_t, payload) => received.push(JSON.parse(payload.toString())))
    await using controller = await connectClient(url(0), { clientId: 'ctl-cmd' })
    const got = waitForMessage<{ id: string }>(device, topics.cmd('cmd-1'), undefined, { timeoutMs: 20_000 })
    // Resolves on the PUBACK: the cluster took the message [MQTT-4.3.2-1].
    await controller.publishAsync(topics.cmd('cmd-1'), json({ id: 'c-1' }), DELIVERY.cmd)
    expect((await got).payload).toEqual({ id: 'c-1' })
    // A reply the other way, to learn nothing else is still in flight for the command.
    const reply = waitForMessage(controller, topics.reply('cmd-1'), undefined, { timeoutMs: 20_000 })
    await controller.subscribeAsync(topics.reply('cmd-1'), { qos: 1 })
    await device.publishAsync(topics.reply('cmd-1'), json({ id: 'c-1', ok: true }), DELIVERY.reply)
    await reply
    expect(received).toEqual([{ id: 'c-1' }])
  }, 60_000)

  it('publishes the retained Last Will of a device whose link drops, to subscribers on every node', async () => {
    const node = cluster.nodes[1]
    if (node === undefined) throw new Error('no node 2')
    await using proxy = await startTcpProxy(Number(new URL(node.mqttUrl).port))
    await using watcher = await connectClient(url(2), { clientId: 'ctl-will' })
    await watcher.subscribeAsync(topics.status('will-1'), { qos: 1 })
    const will = { topic: topics.status('will-1'), payload: Buffer.from(json({ online: false, session: 7 })), ...DELIVERY.status }
    const device = await connectClient(proxy.url, { clientId: 'will-1', will, keepalive: 5 })
    await device.publishAsync(topics.status('will-1'), json({ online: true, session: 7 }), DELIVERY.status)
    const dead = waitForMessage<{ online: boolean }>(watcher, topics.status('will-1'), (p) => !p.online, { timeoutMs: 30_000 })
    proxy.cut()
    expect((await dead).payload).toEqual({ online: false, session: 7 })
    device.end(true)
    // Retained: a controller that starts later reads the device as offline.
    await using late = await connectClient(url(0), { clientId: 'ctl-will-late' })
    const retained = waitForMessage<{ online: boolean }>(late, topics.status('will-1'), undefined, { timeoutMs: 20_000 })
    await late.subscribeAsync(topics.status('will-1'), { qos: 1 })
    expect(await retained).toMatchObject({ payload: { online: false, session: 7 }, retain: true })
  }, 90_000)

  it('keeps the retained states when the node they were written on dies', async () => {
    await using controller = await connectClient(url(2), { clientId: 'ctl-ret-2' })
    await controller.publishAsync(topics.desired('ret-2'), json({ generation: 2 }), DELIVERY.desired)
    await controller.endAsync()
    const third = cluster.nodes[2]
    if (third === undefined) throw new Error('no node 3')
    await third.stop()
    try {
      // Until the streams whose leader was on node 3 have a new one (seconds), node 1 cannot load a session and
      // closes the connection: reconnect, as agents do.
      await using device = await connectClient(url(0), { clientId: 'ret-2', reconnectPeriod: 500, connectTimeout: 30_000 })
      const desired = waitForMessage<{ generation: number }>(device, topics.desired('ret-2'), undefined, { timeoutMs: 90_000 })
      let arrived = false
      void desired.then(
        () => (arrived = true),
        () => undefined,
      )
      // While the cluster elects new leaders a subscription may be refused, and node 1 may learn the state from
      // the stream a moment after it: subscribe again until the state comes, as a reconnecting agent would.
      await waitFor(
        async () => {
          if (arrived) return true
          await device.unsubscribeAsync(topics.desired('ret-2'))
          await device.subscribeAsync(topics.desired('ret-2'), { qos: 1 })
          return false
        },
        { timeoutMs: 90_000, intervalMs: 1000, what: 'the retained desired state through node 1' },
      )
      expect(await desired).toMatchObject({ payload: { generation: 2 }, retain: true })
    } finally {
      await third.start()
    }
  }, 180_000)
})

describe('QoS 1 on a NATS cluster with replicated consumers, when a node dies', () => {
  it('keeps delivering to devices on the other nodes and grants new subscriptions', async () => {
    // With one replica, each device's consumer would live on a node picked at random: a third of them on
    // the node that dies, and those devices would stay connected and receive nothing more.
    await using replicated = await startNatsCluster()
    const at = (i: number): string => replicated.mqttUrls[i] ?? ''
    const ids = ['live-0', 'live-1', 'live-2', 'live-3', 'live-4', 'live-5']
    const received = new Map<string, unknown[]>()
    const devices = await Promise.all(
      ids.map(async (id, i) => {
        const device = await connectClient(at(i % 2), { clientId: id })
        received.set(id, [])
        device.on('message', (_t, payload) => received.get(id)?.push(JSON.parse(payload.toString())))
        await device.subscribeAsync(topics.cmd(id), { qos: 1 })
        return device
      }),
    )
    try {
      await replicated.nodes[2]?.stop()
      await using controller = await connectClient(at(0), { clientId: 'ctl-live', reconnectPeriod: 500, connectTimeout: 30_000 })
      for (const id of ids) await controller.publishAsync(topics.cmd(id), json({ id: `after-${id}` }), DELIVERY.cmd)
      await waitFor(() => ids.every((id) => (received.get(id)?.length ?? 0) > 0), {
        timeoutMs: 60_000,
        what: 'a command to every device on the nodes left',
      }).catch((err: unknown) => {
        throw new Error(`${String(err)}; received: ${JSON.stringify(Object.fromEntries(received))}`)
      })
      expect(Object.fromEntries(received)).toEqual(Object.fromEntries(ids.map((id) => [id, [{ id: `after-${id}` }]])))
      // A device that moved from the dead node subscribes anew; refused while the new consumer elects its leader.
      await using moved = await connectClient(at(1), { clientId: 'moved-1', reconnectPeriod: 500, connectTimeout: 30_000 })
      await waitFor(() => moved.subscribeAsync(topics.cmd('moved-1'), { qos: 1 }).then(() => true), {
        timeoutMs: 90_000,
        intervalMs: 1000,
        what: 'the subscription of a moved device to be granted',
      })
      const got = waitForMessage<{ id: string }>(moved, topics.cmd('moved-1'), undefined, { timeoutMs: 30_000 })
      await controller.publishAsync(topics.cmd('moved-1'), json({ id: 'to-moved' }), DELIVERY.cmd)
      expect((await got).payload).toEqual({ id: 'to-moved' })
    } finally {
      await Promise.all(devices.map((d) => d.endAsync(true)))
    }
  }, 240_000)

  it('delivers what was queued for an offline session after the node it was on died', async () => {
    // A persistent session's consumers outlive its node when replicated (consumer_replicas, the cluster's default here).
    await using replicated = await startNatsCluster()
    const at = (i: number): string => replicated.mqttUrls[i] ?? ''
    const offline = await connectClient(at(2), { clientId: 'sess-1', clean: false })
    await offline.subscribeAsync([topics.cmd('sess-1'), topics.desired('sess-1')], { qos: 1 })
    await offline.endAsync()
    await using controller = await connectClient(at(2), { clientId: 'ctl-sess' })
    await controller.publishAsync(topics.desired('sess-1'), json({ generation: 2 }), DELIVERY.desired)
    await controller.publishAsync(topics.cmd('sess-1'), json({ id: 'queued' }), DELIVERY.cmd)
    await controller.endAsync()
    await replicated.nodes[2]?.stop()
    // Back through node 1, listening before the CONNACK: what was queued follows it at once.
    const device = mqtt.connect(at(0), { clientId: 'sess-1', clean: false, reconnectPeriod: 1000, connectTimeout: 30_000 })
    try {
      const queued = waitForMessage<{ id: string }>(device, topics.cmd('sess-1'), undefined, { timeoutMs: 60_000 })
      const desired = waitForMessage<{ generation: number }>(device, topics.desired('sess-1'), undefined, { timeoutMs: 60_000 })
      expect((await queued).payload).toEqual({ id: 'queued' })
      expect((await desired).payload).toEqual({ generation: 2 })
    } finally {
      await device.endAsync(true)
    }
  }, 180_000)
})
