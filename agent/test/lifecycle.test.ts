import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPlainBroker, waitFor, type PlainBroker } from '@liquid-edge/test/harness'
import { createFixture } from './support/fixture.js'

let broker: PlainBroker
beforeAll(async () => {
  broker = await startPlainBroker()
})
afterAll(async () => {
  await broker.close()
})

describe('agent start and shutdown', () => {
  it('reports crashed at the start after a run that never closed cleanly, and not after a clean one', async () => {
    await using fx = await createFixture(broker.url)
    const first = await fx.startAgent()
    await fx.desired(1, fx.model({ version: '1.0.0' }))
    await fx.waitPhase('active', 1)
    await first.agent.close()

    const second = await fx.startAgent({ driver: first.driver })
    await waitFor(() => fx.events.filter((e) => e.event === 'started').length === 2, { what: 'the second start' })
    expect(fx.events.filter((e) => e.event === 'crashed')).toEqual([])
    await second.agent.close({ clean: false })

    await fx.startAgent({ driver: first.driver })
    await waitFor(() => fx.events.filter((e) => e.event === 'started').length === 3, { what: 'the third start' })
    const crashed = fx.events.filter((e) => e.event === 'crashed')
    expect(crashed).toHaveLength(1)
    // Reported before the start that found it, so a consumer reads them in order.
    expect(fx.events.map((e) => e.event).lastIndexOf('crashed')).toBe(fx.events.map((e) => e.event).lastIndexOf('started') - 1)
  })
})
