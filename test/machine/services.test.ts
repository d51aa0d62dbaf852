/**
 * The services the suite runs against answer where it looks for them: the machine's standard
 * ports, or the private instances `npm test` started (REDIS_URL, LLN_MOSQUITTO_URL, NATS_URL).
 * A failure here names the service, before a hundred tests time out on it.
 */
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { describe, expect, it } from 'vitest'
import { MOSQUITTO_URL, NATS_URL, connectClient, redisClient, uniquePrefix, uniqueRoot, waitForMessage } from '@liquid-edge/test/harness'

describe('the test services', () => {
  it('Redis answers PING and keeps a key', async () => {
    const redis = redisClient()
    try {
      const key = `${uniquePrefix('svc')}:k`
      await redis.set(key, 'v', 'PX', 10_000)
      expect(await redis.get(key)).toBe('v')
      await redis.del(key)
    } finally {
      redis.disconnect()
    }
  })

  it('Mosquitto delivers a retained QoS 1 message to a later anonymous subscriber', async () => {
    const topic = `${uniqueRoot()}/retained`
    await using pub = await connectClient(MOSQUITTO_URL)
    await pub.publishAsync(topic, JSON.stringify({ hello: 1 }), { qos: 1, retain: true })
    await using sub = await connectClient(MOSQUITTO_URL)
    const got = waitForMessage<{ hello: number }>(sub, topic, () => true, { timeoutMs: 10_000 })
    await sub.subscribeAsync(topic, { qos: 1 })
    const msg = await got
    expect(msg).toMatchObject({ payload: { hello: 1 }, retain: true })
    await pub.publishAsync(topic, '', { qos: 1, retain: true })
  })

  it('NATS answers with JetStream enabled', async () => {
    const nc = await connect({ servers: NATS_URL })
    try {
      const jsm = await jetstreamManager(nc)
      const info = await jsm.getAccountInfo()
      expect(info.limits).toBeDefined()
    } finally {
      await nc.close()
    }
  })
})
