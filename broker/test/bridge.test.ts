import { describe, expect, it } from 'vitest'
import { connect } from '@nats-io/transport-node'
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { createTopics, natsSubject } from '@liquid-edge/protocol'
import { NATS_URL, startTestBroker, waitFor, type TestBroker, startNatsServer } from '@liquid-edge/test/harness'
import { telemetry, uid } from './fixtures.js'

function uniqueStream(): { stream: string; subjectPrefix: string } {
  const tag = crypto.randomUUID().slice(0, 8)
  return { stream: `T_${tag}`, subjectPrefix: `t${tag}` }
}

/** Every message in `stream`, read by a new durable consumer, as [subject, envelope id]. */
async function readStream(url: string, stream: string, expected: number): Promise<[string, string][]> {
  const nc = await connect({ servers: url })
  try {
    const jsm = await jetstreamManager(nc)
    await jsm.consumers.add(stream, { durable_name: 'reader', ack_policy: AckPolicy.Explicit })
    const consumer = await jetstream(nc).consumers.get(stream, 'reader')
    const out: [string, string][] = []
    while (out.length < expected) {
      const batch = await consumer.fetch({ max_messages: expected - out.length, expires: 2000 })
      let got = 0
      for await (const m of batch) {
        out.push([m.subject, m.json<{ id: string }>().id])
        m.ack()
        got++
      }
      if (got === 0) break
    }
    return out
  } finally {
    await nc.close()
  }
}

async function sendTelemetry(tb: TestBroker, id: string, ids: string[]): Promise<void> {
  const topics = createTopics(tb.root)
  await using dev = await tb.connect(id)
  for (const [seq, msgId] of ids.entries()) await dev.publishAsync(topics.telemetry(id), telemetry(id, seq, msgId), { qos: 1 })
}

describe('NATS JetStream bridge', () => {
  it.each(['batch', 'each'] as const)('delivers telemetry to a durable consumer once per message id (ack %s)', async (ack) => {
    const { stream, subjectPrefix } = uniqueStream()
    await using tb = await startTestBroker({ config: { nats: { url: NATS_URL, stream, subjectPrefix, storage: 'memory', ack } } })
    const nc = await connect({ servers: NATS_URL })
    try {
      await waitFor(() => tb.broker.bridgeState === 'connected', { what: 'bridge connected' })
      const id = `${uid()}.with.dots`
      const ids = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()]
      await sendTelemetry(tb, id, [...ids, ids[1] ?? '']) // the second one twice (an MQTT re-send)
      await waitFor(async () => (await tb.broker.metrics.bridgePublished.get()).values.reduce((n, v) => n + v.value, 0) === 4)
      const got = await readStream(NATS_URL, stream, 3)
      expect(got.map(([, msgId]) => msgId)).toEqual(ids)
      expect((await (await jetstreamManager(nc)).streams.info(stream)).state.messages).toBe(3)
      expect(new Set(got.map(([subject]) => subject))).toEqual(new Set([natsSubject('telemetry', id, subjectPrefix)]))
      if (ack === 'each') expect((await tb.broker.metrics.bridgeDuplicates.get()).values[0]?.value).toBe(1)
    } finally {
      const jsm = await jetstreamManager(nc)
      await jsm.streams.delete(stream).catch(() => false)
      await nc.close()
    }
  })

  it('keeps serving MQTT while NATS is stopped and bridges what it buffered when NATS returns', async () => {
    await using nats = await startNatsServer()
    const { stream, subjectPrefix } = uniqueStream()
    await using tb = await startTestBroker({ config: { nats: { url: nats.url, stream, subjectPrefix } } })
    await waitFor(() => tb.broker.bridgeState === 'connected', { what: 'bridge connected' })
    const id = uid()
    const topics = createTopics(tb.root)
    await using watcher = await tb.connect(uid('ctl'), { role: 'controller' })
    await watcher.subscribeAsync(topics.telemetry(id), { qos: 1 })
    const seen: string[] = []
    watcher.on('message', (_t, p) => seen.push((JSON.parse(p.toString()) as { id: string }).id))

    await nats.stop()
    await waitFor(() => tb.broker.bridgeState === 'disconnected', { what: 'bridge disconnected' })
    const ids = Array.from({ length: 5 }, () => crypto.randomUUID())
    await sendTelemetry(tb, id, ids)
    await waitFor(() => seen.length === 5, { what: 'MQTT delivery while NATS is down' })
    expect((await tb.broker.metrics.bridgeDeferred.get()).values[0]?.value).toBe(5)

    await nats.start()
    await waitFor(() => tb.broker.bridgeState === 'connected' && tb.broker.health().bridge === 'connected', {
      timeoutMs: 20_000,
      what: 'bridge reconnected',
    })
    await waitFor(async () => (await tb.broker.metrics.bridgePublished.get()).values.reduce((n, v) => n + v.value, 0) === 5, {
      timeoutMs: 15_000,
      what: 'buffered messages bridged',
    })
    const got = await readStream(nats.url, stream, 5)
    expect(got.map(([, msgId]) => msgId)).toEqual(ids)
  })
})
