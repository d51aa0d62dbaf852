import { describe, expect, it } from 'vitest'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { createCodec, deviceMessage, natsSubject } from '@liquid-edge/protocol'
import { NATS_URL, uniquePrefix, waitFor } from '@liquid-edge/test/harness'
import { api } from './helpers.js'
import { TelemetryPublisher, telemetryEnv } from './telemetry/env.js'

describe('telemetry from JetStream', () => {
  it('a durable consumer folds bridged telemetry once per envelope id, and decisions reach the stream', async () => {
    const nc = await connect({ servers: NATS_URL })
    const jsm = await jetstreamManager(nc)
    const subjectPrefix = uniquePrefix('lln').replaceAll('-', '_')
    const stream = subjectPrefix.toUpperCase()
    await jsm.streams.add({ name: stream, subjects: [`${subjectPrefix}.>`] })
    try {
      await using env = await telemetryEnv({ natsUrl: NATS_URL, natsStream: stream, natsSubjectPrefix: subjectPrefix })
      const c = await env.start()
      await waitFor(() => jsm.consumers.info(stream, 'liquid-controller-telemetry'), { what: 'the durable consumer' })
      const js = jetstream(nc)
      const codec = createCodec({ root: env.root })
      const model = { name: 'kws', version: '4.0.0' }
      const body = {
        seq: 0,
        windowStart: Date.now(),
        windowMs: 1000,
        model,
        inferences: 10,
        errors: 2,
        latencyMs: null,
        energy: null,
        temperatureC: null,
        memory: null,
      }
      const msgs = [0, 1, 2].map((seq) => deviceMessage('telemetry', 'js-dev', { ...body, seq }))
      for (const m of msgs) await js.publish(natsSubject('telemetry', 'js-dev', subjectPrefix), codec.encode(m), { msgID: m.id })
      // A redelivery the stream does not catch (another msgID, same envelope): dropped by envelope id.
      await js.publish(natsSubject('telemetry', 'js-dev', subjectPrefix), codec.encode(msgs[0]!), { msgID: 'other' })
      // MQTT telemetry is not folded when JetStream is the source.
      await using pub = await TelemetryPublisher.connect(env.broker.url, env.root)
      pub.publish('mqtt-dev', { model })
      type T = { ingest: { folded: number; duplicates: number } }
      const t = await waitFor(async () => {
        const r = (await api(c)<T>('GET', '/v1/telemetry')).body
        return r.ingest.folded >= 3 && r.ingest.duplicates >= 1 ? r : null
      })
      expect(t.ingest).toMatchObject({ folded: 3, duplicates: 1 })
      // An event published by the rules engine lands on `<prefix>.fleet.events`.
      await c.telemetry.sink.publish({ event: 'alert', rolloutId: null, severity: 'warning', message: 'bench' })
      const info = await waitFor(async () => {
        const s = await jsm.streams.info(stream, { subjects_filter: `${subjectPrefix}.fleet.events` })
        return (s.state.subjects?.[`${subjectPrefix}.fleet.events`] ?? 0) > 0 ? s : null
      })
      expect(info.state.messages).toBeGreaterThanOrEqual(5)
    } finally {
      await jsm.streams.delete(stream)
      await nc.close()
    }
  })
})
