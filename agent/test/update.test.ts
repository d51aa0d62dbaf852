import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildFakePackage, publisherKeyPair, startPlainBroker, startTcpProxy, waitFor, type PlainBroker } from '@liquid-edge/test/harness'
import { createFixture, type Fixture } from './support/fixture.js'

let broker: PlainBroker
beforeAll(async () => {
  broker = await startPlainBroker()
})
afterAll(async () => {
  await broker.close()
})

/** A device running 1.0.0 (generation 1, confirmed). */
async function deviceOnV1(fx: Fixture) {
  const started = await fx.startAgent()
  await fx.desired(1, fx.model({ version: '1.0.0' }))
  await fx.waitPhase('active', 1)
  return started
}

describe('agent update', () => {
  it('refuses an artifact whose sha256 differs and keeps the running model', async () => {
    await using fx = await createFixture(broker.url)
    const { driver } = await deviceOnV1(fx)
    const v2 = fx.model({ version: '2.0.0' })
    await fx.desired(2, { ...v2, sha256: 'f'.repeat(64) })
    const failed = await fx.waitPhase('failed', 2)
    expect(failed.error?.code).toBe('PACKAGE_SHA256_MISMATCH')
    expect(failed.slots.map((s) => [s.role, s.model.version])).toEqual([['active', '1.0.0']])
    expect(driver.loads).toEqual(['1.0.0'])
    expect(driver.activeVersion).toBe('1.0.0')
  })

  it('refuses a package signed by another key', async () => {
    await using fx = await createFixture(broker.url)
    const { driver } = await deviceOnV1(fx)
    const forged = buildFakePackage(publisherKeyPair().privateKey, { version: '2.0.0' })
    await fx.desired(2, fx.artifacts.ref('forged.liquid', forged))
    const failed = await fx.waitPhase('failed', 2)
    expect(failed.error?.code).toBe('PACKAGE_SIGNATURE_INVALID')
    expect(driver.loads).toEqual(['1.0.0'])
  })

  it('refuses a desired state whose signature differs from the embedded one', async () => {
    await using fx = await createFixture(broker.url)
    await deviceOnV1(fx)
    const v2 = fx.model({ version: '2.0.0' })
    const other = fx.model({ version: '2.0.1' })
    await fx.desired(2, { ...v2, signature: other.signature })
    expect((await fx.waitPhase('failed', 2)).error?.code).toBe('PACKAGE_SIGNATURE_MISMATCH')
  })

  it('fails the self-test when golden vectors do not match and frees the candidate slot', async () => {
    await using fx = await createFixture(broker.url)
    const { driver } = await deviceOnV1(fx)
    await fx.desired(2, fx.model({ version: '2.0.0', goldenOffset: 0.5 }))
    const failed = await fx.waitPhase('failed', 2)
    expect(failed.error?.code).toBe('AGENT_SELF_TEST_FAILED')
    expect(failed.slots.map((s) => s.model.version)).toEqual(['1.0.0'])
    expect(driver.versionIn('b')).toBeNull()
    expect(driver.activations).toEqual(['1.0.0'])
    expect(fx.events.map((e) => e.event)).toContain('self-test-failed')
  })

  it('fails the self-test when the golden latency is over the threshold', async () => {
    await using fx = await createFixture(broker.url)
    const { driver } = await deviceOnV1(fx)
    driver.faultsByVersion['2.0.0'] = { latencyMs: 50 }
    await fx.desired(2, fx.model({ version: '2.0.0', latencyThresholdMs: 5 }))
    const failed = await fx.waitPhase('failed', 2)
    expect(failed.error).toMatchObject({ code: 'AGENT_SELF_TEST_FAILED', details: { maxLatencyMs: 50 } })
  })

  it('returns to the previous model with no trial and no latency gate when the rollback asks for no trial, even on a slow device', async () => {
    await using fx = await createFixture(broker.url)
    const { agent, driver } = await fx.startAgent()
    const v1 = fx.model({ version: '1.0.0' })
    await fx.desired(1, v1)
    await fx.waitPhase('active', 1)
    await fx.desired(2, fx.model({ version: '2.0.0' }), { policy: { trialMs: 100, latencyThresholdMs: 50 } })
    await fx.waitPhase('active', 2)
    // The bad release left the device slow (heat, load): v1 now misses its own latency threshold.
    driver.faultsByVersion['1.0.0'] = { latencyMs: 500 }
    // A rollback (the controller sends rollbacks with no trial).
    await fx.desired(3, v1, { policy: { trialMs: 0, latencyThresholdMs: 5 } })
    const back = await fx.waitPhase('active', 3)
    expect(driver.activeVersion).toBe('1.0.0')
    expect(driver.loads).toEqual(['1.0.0', '2.0.0'])
    expect(agent.state.trial).toBeNull()
    expect(back.slots.map((x) => [x.role, x.model.version])).toEqual(
      expect.arrayContaining([
        ['active', '1.0.0'],
        ['previous', '2.0.0'],
      ]),
    )
  })

  it("goes to the policy's fallback with no trial and no latency gate when a first install is sent back, even on a hot, slow device", async () => {
    await using fx = await createFixture(broker.url)
    const { agent, driver } = await fx.startAgent({ driverOptions: { sensors: { powerMw: 40 } } })
    const policy = { trialMs: 100, latencyThresholdMs: 5, energyBudgetMw: 100 }
    await fx.desired(1, fx.model({ version: '2.0.0' }), { policy })
    await fx.waitPhase('active', 1)
    // The bad release left the device hot and slow: the fallback misses its budgets for now.
    driver.sensors.powerMw = 500
    driver.faultsByVersion['1.0.0'] = { latencyMs: 500 }
    // No previous model: the controller sends the fallback with no trial, and says why.
    const reason = {
      code: 'ROLLOUT_FALLBACK',
      message: 'rollback; no previous model (first install); fallback kws@1.0.0',
      retryable: false,
    }
    await fx.desired(2, fx.model({ version: '1.0.0' }), { policy: { ...policy, trialMs: 0 }, reason })
    const back = await fx.waitPhase('active', 2)
    expect(driver.activeVersion).toBe('1.0.0')
    expect(agent.state.trial).toBeNull()
    expect(fx.reported.filter((r) => r.generation === 2).map((r) => r.phase)).not.toContain('reverted')
    expect(back.slots.map((x) => [x.role, x.model.version])).toEqual(
      expect.arrayContaining([
        ['active', '1.0.0'],
        ['previous', '2.0.0'],
      ]),
    )
  })

  it('runs the trial again when a deploy (not a rollback) returns to the resident previous model', async () => {
    await using fx = await createFixture(broker.url)
    const { agent, driver } = await fx.startAgent()
    const v1 = fx.model({ version: '1.0.0' })
    await fx.desired(1, v1)
    await fx.waitPhase('active', 1)
    await fx.desired(2, fx.model({ version: '2.0.0' }))
    await fx.waitPhase('active', 2)
    // Re-deploying 1.0.0 with a trial: it is resident, so no download, but it is judged like any release.
    await fx.desired(3, v1, { policy: { trialMs: 60_000, latencyThresholdMs: 5, minSamples: 5 } })
    await fx.waitPhase('trial', 3)
    expect(agent.state.trial).toMatchObject({ generation: 3 })
    expect(driver.loads).toEqual(['1.0.0', '2.0.0'])
  })

  it('reports AGENT_LOAD_FAILED when the driver cannot load the model', async () => {
    await using fx = await createFixture(broker.url)
    const { driver } = await deviceOnV1(fx)
    driver.faultsByVersion['2.0.0'] = { failLoad: true }
    await fx.desired(2, fx.model({ version: '2.0.0' }))
    const failed = await fx.waitPhase('failed', 2)
    expect(failed.error?.code).toBe('AGENT_LOAD_FAILED')
    expect(driver.activeVersion).toBe('1.0.0')
  })

  it('reverts locally when the error rate breaks the policy during the trial', async () => {
    await using fx = await createFixture(broker.url)
    const { agent, driver } = await deviceOnV1(fx)
    await fx.desired(2, fx.model({ version: '2.0.0' }), {
      policy: { trialMs: 30_000, latencyThresholdMs: 5, minSamples: 10, maxErrorRate: 0.1 },
    })
    await fx.waitPhase('trial', 2)
    driver.faultsByVersion['2.0.0'] = { errorEvery: 2 }
    const input = Float32Array.from([1, 2, 3, 4])
    for (let i = 0; i < 20 && driver.activeVersion === '2.0.0'; i++) await agent.infer(input).catch(() => undefined)
    const reverted = await fx.waitPhase('reverted', 2)
    expect(reverted.error).toMatchObject({ code: 'AGENT_TRIAL_ERROR_RATE' })
    expect(reverted.slots.map((s) => [s.role, s.model.version])).toEqual([['active', '1.0.0']])
    expect(driver.activeVersion).toBe('1.0.0')
    await waitFor(() => fx.events.find((e) => e.event === 'local-revert' && e.error?.code === 'AGENT_TRIAL_ERROR_RATE'))
    expect((await agent.infer(input)).modelVersion).toBe('1.0.0')
  })

  it('reverts locally on latency over the threshold, and does so while offline', async () => {
    await using proxy = await startTcpProxy(broker.port)
    await using fx = await createFixture(broker.url, { agentUrl: proxy.url })
    const { agent, driver } = await deviceOnV1(fx)
    await fx.desired(2, fx.model({ version: '2.0.0' }), { policy: { trialMs: 30_000, latencyThresholdMs: 5, minSamples: 5 } })
    await fx.waitPhase('trial', 2)
    proxy.cut()
    await waitFor(() => !agent.connected)
    driver.faultsByVersion['2.0.0'] = { latencyMs: 20 }
    for (let i = 0; i < 10; i++) await agent.infer(Float32Array.from([1, 2, 3, 4]))
    await waitFor(() => agent.state.phase === 'reverted', { what: 'local revert while offline' })
    expect(driver.activeVersion).toBe('1.0.0')
    expect(agent.connected).toBe(false)
    expect(agent.state.error?.code).toBe('AGENT_TRIAL_LATENCY')
    proxy.restore()
    const reverted = await fx.waitPhase('reverted', 2)
    expect(reverted.error?.code).toBe('AGENT_TRIAL_LATENCY')
  })

  it('reverts on energy over the budget during the trial', async () => {
    await using fx = await createFixture(broker.url)
    const { driver } = await deviceOnV1(fx)
    await fx.desired(2, fx.model({ version: '2.0.0', energyBudgetMw: 100 }), {
      policy: { trialMs: 30_000, latencyThresholdMs: 5, energyBudgetMw: 100, minSamples: 5 },
    })
    await fx.waitPhase('trial', 2)
    driver.sensors.powerMw = 200
    expect((await fx.waitPhase('reverted', 2)).error?.code).toBe('AGENT_TRIAL_ENERGY')
  })

  it('judges the trial against the budgets of its own hardware class, and names the class', async () => {
    await using fx = await createFixture(broker.url)
    const { agent, driver } = await deviceOnV1(fx)
    // The default threshold (50 ms) would pass 20 ms; this device's class allows 8 ms.
    const budgets = { [driver.hardware]: { latencyThresholdMs: 8 }, 'other-class': { latencyThresholdMs: 1000 } }
    await fx.desired(2, fx.model({ version: '2.0.0' }), { policy: { trialMs: 30_000, latencyThresholdMs: 50, minSamples: 5, budgets } })
    await fx.waitPhase('trial', 2)
    driver.faultsByVersion['2.0.0'] = { latencyMs: 20 }
    for (let i = 0; i < 10 && driver.activeVersion === '2.0.0'; i++) await agent.infer(Float32Array.from([1, 2, 3, 4]))
    const reverted = await fx.waitPhase('reverted', 2)
    expect(reverted.error).toMatchObject({ code: 'AGENT_TRIAL_LATENCY', details: { threshold: 12, hardwareClass: driver.hardware } })
  })

  it('fails a trial whose energy budget the device cannot measure, unless its class marks energy optional', async () => {
    await using fx = await createFixture(broker.url)
    const { driver } = await deviceOnV1(fx)
    expect(driver.sensors.powerMw).toBeNull()
    await fx.desired(2, fx.model({ version: '2.0.0', energyBudgetMw: 100 }), {
      policy: { trialMs: 300, latencyThresholdMs: 5, energyBudgetMw: 100 },
    })
    const failed = await fx.waitPhase('reverted', 2)
    expect(failed.error).toMatchObject({ code: 'AGENT_TRIAL_UNMEASURED', details: { measure: 'energy', hardwareClass: 'default' } })
    expect(driver.activeVersion).toBe('1.0.0')
    const optional = { [driver.hardware]: { optional: ['energy' as const] } }
    await fx.desired(3, fx.model({ version: '3.0.0', energyBudgetMw: 100 }), {
      policy: { trialMs: 300, latencyThresholdMs: 5, energyBudgetMw: 100, budgets: optional },
    })
    await fx.waitPhase('active', 3)
    expect(driver.activeVersion).toBe('3.0.0')
  })

  it('never applies a superseded generation', async () => {
    await using fx = await createFixture(broker.url)
    const { driver } = await deviceOnV1(fx)
    fx.artifacts.stallAfterBytes = 100
    await fx.desired(2, fx.model({ version: '2.0.0' }))
    await fx.waitPhase('downloading', 2)
    fx.artifacts.stallAfterBytes = null
    await fx.desired(3, fx.model({ version: '3.0.0' }))
    await fx.waitPhase('active', 3)
    expect(driver.loads).not.toContain('2.0.0')
    expect(driver.activations).toEqual(['1.0.0', '3.0.0'])
    // an older generation arriving late is ignored
    await fx.desired(2, fx.model({ version: '2.0.0' }))
    await fx.command({ kind: 'ping', expiresAt: Date.now() + 5000 }, 'after-late-desired')
    await fx.waitReply('after-late-desired')
    expect(driver.loads).not.toContain('2.0.0')
  })

  it('does not apply an expired desired state', async () => {
    await using fx = await createFixture(broker.url)
    const { driver } = await deviceOnV1(fx)
    await fx.desired(2, fx.model({ version: '2.0.0' }), { expiresAt: Date.now() - 1000 })
    expect((await fx.waitPhase('failed', 2)).error?.code).toBe('AGENT_DESIRED_EXPIRED')
    expect(driver.loads).toEqual(['1.0.0'])
  })

  it('converges on reconnect after being offline through a rollout', async () => {
    await using proxy = await startTcpProxy(broker.port)
    await using fx = await createFixture(broker.url, { agentUrl: proxy.url })
    const { agent, driver } = await deviceOnV1(fx)
    const sessionBefore = agent.state.session
    proxy.cut()
    await waitFor(() => !agent.connected)
    await fx.desired(2, fx.model({ version: '2.0.0' }))
    await fx.desired(3, fx.model({ version: '3.0.0' }))
    proxy.restore()
    await fx.waitPhase('active', 3)
    expect(driver.activations).toEqual(['1.0.0', '3.0.0'])
    expect(agent.state.session).toBeGreaterThan(sessionBefore)
    const online = fx.status.filter((s) => s.online).map((s) => s.session)
    expect(online.at(-1)).toBeGreaterThan(online[0] ?? 0)
  })

  it('stages a blue-green candidate, switches to it and decommissions the old model', async () => {
    await using fx = await createFixture(broker.url)
    const { driver } = await deviceOnV1(fx)
    await fx.desired(2, fx.model({ version: '2.0.0' }), { mode: 'stage' })
    const staged = await fx.waitPhase('staged', 2)
    expect(staged.slots.map((s) => [s.role, s.model.version]).sort()).toEqual([
      ['active', '1.0.0'],
      ['staged', '2.0.0'],
    ])
    expect(driver.activeVersion).toBe('1.0.0')
    const sw = await fx.waitReply(await fx.command({ kind: 'switch', expiresAt: Date.now() + 5000 }))
    expect(sw).toMatchObject({ ok: true, result: { kind: 'switch', activeVersion: '2.0.0', changed: true } })
    expect(driver.activeVersion).toBe('2.0.0')
    const dc = await fx.waitReply(await fx.command({ kind: 'decommission', expiresAt: Date.now() + 5000 }))
    expect(dc).toMatchObject({ ok: true, result: { kind: 'decommission', slots: [{ role: 'active' }] } })
    expect(dc.ok && dc.result.kind === 'decommission' && dc.result.freedBytes).toBeGreaterThan(0)
    expect(driver.versionIn('a')).toBeNull()
    const none = await fx.waitReply(await fx.command({ kind: 'switch', expiresAt: Date.now() + 5000 }))
    expect(none).toMatchObject({ ok: true, result: { changed: false } })
  })
})

describe('agent download and package checks', () => {
  it('reports AGENT_ARTIFACT_TOO_LARGE when the body is larger than the desired size', async () => {
    await using fx = await createFixture(broker.url)
    await deviceOnV1(fx)
    const v2 = fx.model({ version: '2.0.0' })
    await fx.desired(2, { ...v2, size: v2.size - 10 })
    expect((await fx.waitPhase('failed', 2)).error?.code).toBe('AGENT_ARTIFACT_TOO_LARGE')
  })

  it('reports AGENT_DOWNLOAD_FAILED on an HTTP error', async () => {
    await using fx = await createFixture(broker.url)
    await deviceOnV1(fx)
    const v2 = fx.model({ version: '2.0.0' })
    await fx.desired(2, { ...v2, url: `${fx.artifacts.baseUrl}/missing.liquid` })
    const failed = await fx.waitPhase('failed', 2)
    expect(failed.error).toMatchObject({ code: 'AGENT_DOWNLOAD_FAILED', retryable: true })
  })

  it('retries a download the artifact server is too busy for, with back-off, and installs the model without reporting failed', async () => {
    await using fx = await createFixture(broker.url)
    await deviceOnV1(fx)
    const v2 = fx.model({ version: '2.0.0' })
    fx.artifacts.busyResponses = 2
    await fx.desired(2, v2)
    await fx.waitPhase('active', 2, 30_000)
    expect(fx.artifacts.requests.filter((r) => r.path.endsWith('2.0.0.liquid'))).toHaveLength(3)
    expect(fx.reported.filter((r) => r.generation === 2).map((r) => r.phase)).not.toContain('failed')
  })

  it('refuses a model built for other hardware with AGENT_PACKAGE_INVALID', async () => {
    await using fx = await createFixture(broker.url)
    const { driver } = await deviceOnV1(fx)
    await fx.desired(2, fx.model({ version: '2.0.0', hardware: ['stm32h743'] }))
    const failed = await fx.waitPhase('failed', 2)
    expect(failed.error?.code).toBe('AGENT_PACKAGE_INVALID')
    expect(failed.error?.message).toContain('stm32h743')
    expect(driver.loads).toEqual(['1.0.0'])
  })
})
