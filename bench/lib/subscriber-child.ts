/**
 * The raw baseline of ingest benches: a bare MQTT subscriber in a process of its own that only
 * counts what the broker delivers on BENCH_TOPIC (QoS 0): the most any consumer of that broker can
 * take. `reset` zeroes the count; `count` returns it with the times of the first and last message.
 */
import mqtt from 'mqtt'
import { serveParent } from './child.js'

const client = await mqtt.connectAsync(process.env.BENCH_URL ?? '', { clientId: `bench-raw-${process.pid}`, reconnectPeriod: 0 })
let got = 0
let firstAt: number | null = null
let lastAt: number | null = null
client.on('message', () => {
  got++
  lastAt = Date.now()
  firstAt ??= lastAt
})
await client.subscribeAsync(process.env.BENCH_TOPIC ?? '#', { qos: 0 })
serveParent(
  {
    reset() {
      got = 0
      firstAt = lastAt = null
      return {}
    },
    count: () => ({ got, firstAt, lastAt }),
  },
  () => client.endAsync(true),
)
