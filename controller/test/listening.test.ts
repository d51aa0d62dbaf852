import { Redis } from 'ioredis'
import { describe, expect, it } from 'vitest'
import { startRedisServer } from '@liquid-edge/test/harness'
import { Listener, ListeningClock } from '../src/telemetry/listening.js'

describe('the listening span', () => {
  it('breaks when Redis stalls a beat: nothing could be stored (or delivered, by a broker on that Redis) meanwhile', async () => {
    await using server = await startRedisServer({ durable: true })
    const redis = new Redis(server.url, { maxRetriesPerRequest: null })
    redis.on('error', () => undefined)
    let now = 1000
    const clock = new ListeningClock(redis, 'lln-test:listening', 100)
    const listener = new Listener(clock, () => now)
    await listener.beat(true)
    now = 1100
    await listener.beat(true)
    expect(await clock.read()).toEqual({ since: 1000, at: 1100 })

    // Redis dies: the next beat waits for it, and the one after does not queue behind it.
    await server.stop()
    now = 1200
    const waiting = listener.beat(true)
    now = 1300
    await listener.beat(true)
    await server.start()
    await waiting
    // The span begins again at the first beat after the stall, not at 1000.
    now = 1400
    await listener.beat(true)
    expect(await clock.read()).toEqual({ since: 1400, at: 1400 })

    // One beat alone that waited longer than a beat breaks it too.
    await server.stop()
    now = 2000
    const slow = listener.beat(true)
    now = 2500
    await server.start()
    await slow
    now = 2600
    await listener.beat(true)
    expect(await clock.read()).toEqual({ since: 2600, at: 2600 })
    // A beat in time continues it.
    now = 2700
    await listener.beat(true)
    expect(await clock.read()).toEqual({ since: 2600, at: 2700 })
    redis.disconnect()
  })
})
