import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPlainBroker, waitFor, type PlainBroker } from '@liquid-edge/test/harness'
import type { ReplyBody } from '@liquid-edge/protocol'
import { createFixture, type Fixture } from './support/fixture.js'

let broker: PlainBroker
beforeAll(async () => {
  broker = await startPlainBroker()
})
afterAll(async () => {
  await broker.close()
})

const inSeconds = (s: number): number => Date.now() + s * 1000

async function deviceOn(fx: Fixture, versions: string[]) {
  const started = await fx.startAgent()
  for (const [i, version] of versions.entries()) {
    await fx.desired(i + 1, fx.model({ version, evaluation: true }))
    await fx.waitPhase('active', i + 1)
  }
  return started
}

const parts = (fx: Fixture, id: string): ReplyBody[] => fx.replies.filter((r) => r.commandId === id)

describe('agent measurements', () => {
  it('rests between samples so that a measurement stays within its duty cycle', async () => {
    await using fx = await createFixture(broker.url)
    const { driver } = await deviceOn(fx, ['1.0.0'])
    driver.faults.latencyMs = 20 // each sample keeps the (fake) hardware busy 20 ms
    const t0 = performance.now()
    const reply = await fx.waitReply(
      await fx.command({ kind: 'profile', expiresAt: inSeconds(20), metric: 'latency', samples: 10, dutyCycle: 0.25 }),
    )
    expect(reply).toMatchObject({ ok: true, result: { kind: 'profile', quantiles: { samples: 10 } } })
    // Busy 20 ms a sample at a 25 % share: each sample is followed by at least 60 ms of rest.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(600)
  })

  it('streams partial results of a long profile and answers other commands meanwhile', async () => {
    await using fx = await createFixture(broker.url)
    await deviceOn(fx, ['1.0.0'])
    const id = await fx.command({ kind: 'profile', expiresAt: inSeconds(30), metric: 'latency', durationMs: 4500 })
    await waitFor(() => parts(fx, id).some((p) => !p.final), { timeoutMs: 10_000, what: 'a partial result' })
    const ping = await fx.waitReply(await fx.command({ kind: 'ping', expiresAt: inSeconds(10) }))
    expect(ping.ok).toBe(true)
    expect(parts(fx, id).some((p) => p.final)).toBe(false)
    const last = await fx.waitReply(id, 15_000)
    const all = parts(fx, id)
    expect(all.map((p) => p.part)).toEqual(all.map((_, i) => i))
    const first = all[0]
    const sampled = (r: ReplyBody | undefined) => (r?.ok === true && r.result.kind === 'profile' ? (r.result.quantiles?.samples ?? 0) : 0)
    expect(sampled(first)).toBeGreaterThan(0)
    expect(sampled(last)).toBeGreaterThan(sampled(first))
    expect(last).toMatchObject({ ok: true, final: true, result: { latencyMs: { samples: sampled(last) } } })
  })

  it('stops a running measurement when cancelled, and says so', async () => {
    await using fx = await createFixture(broker.url)
    await deviceOn(fx, ['1.0.0'])
    const id = await fx.command({ kind: 'profile', expiresAt: inSeconds(120), metric: 'energy', durationMs: 60_000 })
    await waitFor(() => parts(fx, id).length > 0, { timeoutMs: 10_000, what: 'a partial result' })
    const cancel = await fx.waitReply(await fx.command({ kind: 'cancel', expiresAt: inSeconds(10), commandId: id }))
    expect(cancel).toMatchObject({ ok: true, result: { kind: 'cancel', commandId: id, cancelled: true } })
    expect(await fx.waitReply(id, 3000)).toMatchObject({ ok: false, error: { code: 'AGENT_CANCELLED', details: { reason: 'cancelled' } } })
    const again = await fx.waitReply(await fx.command({ kind: 'cancel', expiresAt: inSeconds(10), commandId: id }))
    expect(again).toMatchObject({ ok: true, result: { cancelled: false } })
  })

  it('stops a measurement at the command expiry', async () => {
    await using fx = await createFixture(broker.url)
    await deviceOn(fx, ['1.0.0'])
    const id = await fx.command({ kind: 'profile', expiresAt: inSeconds(1.5), metric: 'latency', durationMs: 60_000 })
    expect(await fx.waitReply(id, 5000)).toMatchObject({ ok: false, error: { code: 'AGENT_CANCELLED', details: { reason: 'expired' } } })
  })

  it('says which evaluation set the package carries when asked for another', async () => {
    await using fx = await createFixture(broker.url)
    await deviceOn(fx, ['1.0.0'])
    const reply = await fx.waitReply(await fx.command({ kind: 'evaluate', expiresAt: inSeconds(10), dataset: 'holdout-b' }))
    expect(reply).toMatchObject({
      ok: false,
      error: { code: 'AGENT_NO_DATASET', details: { dataset: 'holdout-b', available: 'validation' } },
    })
  })

  it("reports a staged candidate's agreement with the active model as information unless a minimum is asked for", async () => {
    await using fx = await createFixture(broker.url)
    await fx.startAgent()
    await fx.desired(1, fx.model({ version: '1.0.0', spec: { scale: 2, bias: 1 } }))
    await fx.waitPhase('active', 1)
    await fx.desired(2, fx.model({ version: '2.0.0', spec: { scale: -2, bias: 0 } }), { mode: 'stage' })
    await fx.waitPhase('staged', 2)
    const agreement = async (minAgreement?: number) => {
      const body = { kind: 'verify' as const, expiresAt: inSeconds(10), suite: 'production' as const, samples: 5 }
      const reply = await fx.waitReply(await fx.command(minAgreement === undefined ? body : { ...body, minAgreement }))
      return reply.ok && reply.result.kind === 'verify' ? reply.result.checks.find((c) => c.name === 'agreement-with-active') : undefined
    }
    expect(await agreement()).toMatchObject({ passed: true, code: 'CHECK_REPORTED', observed: 0 })
    expect(await agreement(0.9)).toMatchObject({ passed: false, code: 'CHECK_UNDER_LIMIT', observed: 0, threshold: 0.9 })
  })
})
