import { describe, expect, it } from 'vitest'
import { createTopics } from '@liquid-edge/protocol'
import { connectClient, credentialOptions, provisionTestCredential, uniqueRoot, waitFor } from '@liquid-edge/test/harness'
import { startRedisNodes } from './broker-process.js'
import { desired, uid } from './fixtures.js'

describe('a broker process on redis persistence when Redis restarts', () => {
  it('stays up, keeps what Redis kept, and delivers again once Redis is back', async () => {
    await using nodes = await startRedisNodes({ durable: true })
    const root = uniqueRoot()
    const topics = createTopics(root)
    await using broker = await nodes.node('restart-node', root)
    const dev = uid()
    const ctl = uid('ctl')
    const [devSecret, ctlSecret] = [
      await provisionTestCredential(nodes.store, dev),
      await provisionTestCredential(nodes.store, ctl, 'controller'),
    ]
    const controller = await connectClient(broker.url, credentialOptions(ctl, ctlSecret))
    await controller.publishAsync(topics.desired(dev), desired(dev, 1), { qos: 1, retain: true })
    await controller.endAsync()

    await nodes.redis.stop() // SIGKILL
    await nodes.redis.start()
    // The process is still there (mqemitter-redis' connection errors no longer crash it) and serves again.
    const generations: number[] = []
    await waitFor(
      async () => {
        const device = await connectClient(broker.url, { ...credentialOptions(dev, devSecret), reconnectPeriod: 0 }).catch(() => null)
        if (device === null) return false
        try {
          device.on('message', (_t, payload) =>
            generations.push((JSON.parse(payload.toString()) as { body: { generation: number } }).body.generation),
          )
          await device.subscribeAsync(topics.desired(dev), { qos: 1 })
          const again = await connectClient(broker.url, credentialOptions(ctl, ctlSecret))
          await again.publishAsync(topics.desired(dev), desired(dev, 2), { qos: 1, retain: true })
          await again.endAsync()
          return await waitFor(() => generations.includes(2), { timeoutMs: 5000 }).then(
            () => true,
            () => false,
          )
        } finally {
          await device.endAsync(true)
        }
      },
      { timeoutMs: 60_000, what: 'the broker to serve again after the Redis restart' },
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${broker.output().slice(-3000)}`)
    })
    // The retained state written before the restart was kept (Redis' append-only file), then replaced.
    expect(generations[0]).toBe(1)
    expect(generations).toContain(2)
  }, 120_000)
})
