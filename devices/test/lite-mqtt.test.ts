import { describe, expect, it } from 'vitest'
import { startPlainBroker, uniqueRoot, waitFor } from '@liquid-edge/test/harness'
import { LiteMqttHub } from '@liquid-edge/devices'

const handlers = (log: string[]) => ({
  message: (kind: string) => log.push(`message ${kind}`),
  connected: () => log.push('connected'),
  disconnected: () => log.push('disconnected'),
  nextSession: () => Promise.resolve(1),
  status: (online: boolean) => Buffer.from(JSON.stringify({ online })),
})

describe('light MQTT sessions', () => {
  it('keep a link that only publishes QoS 0 alive past its keep-alive, with pings the broker answers', async () => {
    await using broker = await startPlainBroker()
    const hub = new LiteMqttHub({ url: broker.url, root: uniqueRoot(), keepaliveS: 1 })
    const log: string[] = []
    const session = hub.transportFor('lite-keepalive')
    await session.start(handlers(log))
    await waitFor(() => log.includes('connected'), { timeoutMs: 10_000, what: 'the session up' })
    let disconnects = 0
    broker.aedes.on('clientDisconnect', () => disconnects++)
    const until = Date.now() + 3500 // more than 1.5 keep-alives: the limit a silent broker is given
    await waitFor(
      async () => {
        await session.publish('telemetry', Buffer.from('{}'), { qos: 0 })
        return Date.now() > until
      },
      { timeoutMs: 20_000, intervalMs: 100, what: 'QoS 0 publishes for 3.5 s' },
    )
    expect(log.filter((l) => l === 'disconnected')).toEqual([])
    expect(disconnects).toBe(0)
    expect(session.connected).toBe(true)
    await hub.close()
  })

  it('delivers QoS 1 messages on the device topics and reconnects after its link is cut', async () => {
    await using broker = await startPlainBroker()
    const root = uniqueRoot()
    const hub = new LiteMqttHub({ url: broker.url, root, reconnectMinMs: 50 })
    const log: string[] = []
    const session = hub.transportFor('lite-cut')
    await session.start(handlers(log))
    await waitFor(() => log.includes('connected'), { timeoutMs: 10_000, what: 'the session up' })
    hub.drop('lite-cut')
    await waitFor(() => log.filter((l) => l === 'connected').length === 2, { timeoutMs: 10_000, what: 'reconnected' })
    expect(log.slice(0, 3)).toEqual(['connected', 'disconnected', 'connected'])
    await session.publish('reported', Buffer.from('{"x":1}'))
    await hub.close()
  })
})
