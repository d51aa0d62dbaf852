import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPlainBroker, waitFor, type PlainBroker } from '@liquid-edge/test/harness'
import { createFixture } from './support/fixture.js'

let aedes: PlainBroker
beforeAll(async () => {
  aedes = await startPlainBroker()
})
afterAll(async () => {
  await aedes.close()
})

const brokers = [
  { name: 'aedes', url: () => aedes.url },
  { name: 'Mosquitto', url: () => 'mqtt://127.0.0.1:1883' },
]

describe.each(brokers)('agent core cycle against $name', ({ url }) => {
  it('installs, trials and confirms a model, then updates and rolls back to the previous one', async () => {
    await using fx = await createFixture(url())
    const { agent, driver } = await fx.startAgent()
    await waitFor(() => fx.status.find((s) => s.online), { what: 'status online' })
    const v1 = fx.model({ version: '1.0.0' })
    await fx.desired(1, v1)
    for (const phase of ['downloading', 'verifying', 'staging', 'trial'] as const) await fx.waitPhase(phase, 1)
    const active1 = await fx.waitPhase('active', 1)
    expect(active1.error).toBeNull()
    expect(active1.slots).toEqual([{ slot: 'a', role: 'active', model: { name: 'fake-model', version: '1.0.0', sha256: v1.sha256 } }])
    expect(driver.activeVersion).toBe('1.0.0')
    expect(fx.events.map((e) => e.event)).toEqual(expect.arrayContaining(['started', 'trial-started', 'trial-confirmed']))

    const out = await agent.infer(Float32Array.from([1, 2, 3, 4]))
    expect(Array.from(out.output)).toEqual([3, 5])
    expect(out.modelVersion).toBe('1.0.0')
    await waitFor(() => fx.telemetry.find((t) => t.inferences > 0 && t.model?.version === '1.0.0'), {
      what: 'telemetry with the inference',
    })

    const v2 = fx.model({ version: '1.1.0', spec: { scale: 3, bias: 0 } })
    await fx.desired(2, v2)
    const active2 = await fx.waitPhase('active', 2)
    expect(active2.slots).toEqual(
      expect.arrayContaining([
        { slot: 'b', role: 'active', model: { name: 'fake-model', version: '1.1.0', sha256: v2.sha256 } },
        { slot: 'a', role: 'previous', model: { name: 'fake-model', version: '1.0.0', sha256: v1.sha256 } },
      ]),
    )
    expect(Array.from((await agent.infer(Float32Array.from([1, 2, 3, 4]))).output)).toEqual([3, 6])

    const id = await fx.command({ kind: 'rollback', expiresAt: Date.now() + 10_000, to: { to: 'previous' } })
    const reply = await fx.waitReply(id)
    expect(reply).toMatchObject({ ok: true, result: { kind: 'rollback', activeVersion: '1.0.0', changed: true } })
    expect(driver.activeVersion).toBe('1.0.0')
    expect(agent.model).toEqual({ name: 'fake-model', version: '1.0.0' })
  })
})
