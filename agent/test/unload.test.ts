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

const REASON = { code: 'ROLLOUT_FALLBACK', message: 'rollout r-1 rolled back; no previous model; fallback: no model', retryable: false }

describe('agent desired state with no model', () => {
  it('unloads a first install and reports idle with the reason, keeping nothing in a slot', async () => {
    await using fx = await createFixture(broker.url)
    const { agent, driver } = await fx.startAgent()
    await fx.desired(1, fx.model({ version: '1.0.0' }))
    await fx.waitPhase('active', 1)
    await fx.desired(2, null, { reason: REASON })
    const idle = await fx.waitPhase('idle', 2)
    expect(idle).toMatchObject({ slots: [], error: null, reason: { code: 'ROLLOUT_FALLBACK', message: REASON.message } })
    expect(driver.activeVersion).toBeNull()
    expect([driver.versionIn('a'), driver.versionIn('b')]).toEqual([null, null])
    expect(agent.model).toBeNull()
    await expect(agent.infer(Float32Array.from([1, 2, 3, 4]))).rejects.toMatchObject({ code: 'AGENT_NO_MODEL' })
    await waitFor(() => fx.events.find((e) => e.event === 'model-unloaded' && e.error?.code === 'ROLLOUT_FALLBACK'), {
      what: 'the model-unloaded event',
    })
  })

  it('ends a running trial unjudged instead of reverting, and installs again on the next generation', async () => {
    await using fx = await createFixture(broker.url)
    const { agent, driver } = await fx.startAgent()
    await fx.desired(1, fx.model({ version: '1.0.0' }))
    await fx.waitPhase('active', 1)
    await fx.desired(2, fx.model({ version: '2.0.0' }), { policy: { trialMs: 60_000, latencyThresholdMs: 5, minSamples: 5 } })
    await fx.waitPhase('trial', 2)
    await fx.desired(3, null, { reason: REASON })
    await fx.waitPhase('idle', 3)
    expect(agent.state.trial).toBeNull()
    expect(fx.reported.some((r) => r.phase === 'reverted')).toBe(false)
    expect(driver.activeVersion).toBeNull()
    await fx.desired(4, fx.model({ version: '1.1.0' }))
    const back = await fx.waitPhase('active', 4)
    expect(back).toMatchObject({ reason: null, slots: [{ role: 'active', model: { version: '1.1.0' } }] })
    expect(driver.activeVersion).toBe('1.1.0')
  })

  it('stays idle with its reason after a restart, and ignores the same generation again', async () => {
    await using fx = await createFixture(broker.url)
    const first = await fx.startAgent()
    await fx.desired(1, fx.model({ version: '1.0.0' }))
    await fx.waitPhase('active', 1)
    await fx.desired(2, null, { reason: REASON })
    await fx.waitPhase('idle', 2)
    await first.agent.close()
    fx.reported.length = 0
    const second = await fx.startAgent()
    // The retained desired state (generation 2) is delivered again on the new session: nothing changes.
    const idle = await fx.waitPhase('idle', 2)
    expect(idle.reason?.code).toBe('ROLLOUT_FALLBACK')
    expect(second.driver.loads).toEqual([])
    expect(second.agent.state).toMatchObject({ generation: 2, active: null, phase: 'idle' })
  })
})
