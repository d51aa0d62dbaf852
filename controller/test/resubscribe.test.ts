import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { connectClient, startPlainBroker, uniqueRoot, waitFor } from '@liquid-edge/test/harness'
import { MqttLink } from '../src/mqtt/link.js'

describe("the controller's MQTT link after a reconnect", () => {
  it('asks again for subscriptions the broker refused, until granted (a NATS node refuses them while the cluster elects leaders)', async () => {
    await using broker = await startPlainBroker()
    const root = uniqueRoot()
    let refuse = 0
    let refused = 0
    broker.aedes.authorizeSubscribe = (client, sub, done) => {
      if (client.id !== 'ctl-resub' || refuse === 0) {
        done(null, sub)
        return
      }
      refuse--
      refused++
      done(null, null) // SUBACK 0x80
    }
    let controllerClient: { close(): void } | undefined
    broker.aedes.on('client', (client) => {
      if (client.id === 'ctl-resub') controllerClient = client
    })
    const link = await MqttLink.connect({ urls: [broker.url], root, clientId: 'ctl-resub', logger: pino({ level: 'silent' }) })
    await link.subscribe()
    try {
      let heard = 0
      link.on('message', () => heard++)
      link.on('invalid', () => heard++)
      // The broker drops the controller; three of the filters it subscribes to next are refused.
      refuse = 3
      const reconnected = new Promise<void>((resolve) => link.once('reconnected', resolve))
      controllerClient?.close()
      await reconnected
      await using device = await connectClient(broker.url, { clientId: 'd-1' })
      await waitFor(
        async () => {
          await device.publishAsync(`${root}/devices/d-1/status`, '{}', { qos: 1 })
          return heard > 0
        },
        { timeoutMs: 30_000, intervalMs: 200, what: `the controller to hear a device again (${refused} subscriptions refused so far)` },
      )
      expect(refused).toBe(3)
    } finally {
      await link.close()
    }
  }, 60_000)
})
