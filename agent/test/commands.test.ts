import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPlainBroker, waitFor, type PlainBroker } from '@liquid-edge/test/harness'
import { createFixture, type Fixture } from './support/fixture.js'

let broker: PlainBroker
beforeAll(async () => {
  broker = await startPlainBroker()
})
afterAll(async () => {
  await broker.close()
})

const soon = (): number => Date.now() + 10_000

async function deviceOn(fx: Fixture, versions: string[]) {
  const started = await fx.startAgent()
  for (const [i, version] of versions.entries()) {
    await fx.desired(i + 1, fx.model({ version, evaluation: true, energyBudgetMw: 500 }))
    await fx.waitPhase('active', i + 1)
  }
  return started
}

describe('agent commands', () => {
  it('refuses an expired command with AGENT_COMMAND_EXPIRED and runs nothing', async () => {
    await using fx = await createFixture(broker.url)
    const { driver } = await deviceOn(fx, ['1.0.0', '2.0.0'])
    const id = await fx.command({ kind: 'rollback', expiresAt: Date.now() - 1, to: { to: 'previous' } })
    const reply = await fx.waitReply(id)
    expect(reply).toMatchObject({ ok: false, error: { code: 'AGENT_COMMAND_EXPIRED' } })
    expect(driver.activeVersion).toBe('2.0.0')
  })

  it('answers a repeated command id with the first answer without running it again', async () => {
    await using fx = await createFixture(broker.url)
    const { driver } = await deviceOn(fx, ['1.0.0', '2.0.0'])
    const id = await fx.command({ kind: 'rollback', expiresAt: soon(), to: { to: 'previous' } })
    const first = await fx.waitReply(id)
    expect(first).toMatchObject({ ok: true, result: { activeVersion: '1.0.0', changed: true } })
    await fx.command({ kind: 'rollback', expiresAt: soon(), to: { to: 'previous' } }, id)
    await waitFor(() => fx.replies.filter((r) => r.commandId === id).length === 2)
    const [a, b] = fx.replies.filter((r) => r.commandId === id)
    expect(b).toEqual(a)
    expect(driver.activations).toEqual(['1.0.0', '2.0.0', '1.0.0'])
  })

  it('remembers answered command ids across a restart', async () => {
    await using fx = await createFixture(broker.url)
    const { agent, driver } = await deviceOn(fx, ['1.0.0', '2.0.0'])
    const id = await fx.command({ kind: 'rollback', expiresAt: soon(), to: { to: 'previous' } })
    await fx.waitReply(id)
    await agent.close()
    const restarted = await fx.startAgent({ driver })
    await waitFor(() => restarted.agent.connected)
    await fx.command({ kind: 'rollback', expiresAt: soon(), to: { to: 'previous' } }, id)
    await waitFor(() => fx.replies.filter((r) => r.commandId === id).length === 2)
    expect(driver.activeVersion).toBe('1.0.0')
  })

  it('answers a command of a kind it does not know with PROTO_UNKNOWN_COMMAND, once per id', async () => {
    await using fx = await createFixture(broker.url)
    await deviceOn(fx, ['1.0.0'])
    const id = 'cmd-from-the-future'
    const raw = { v: 1, type: 'command', id, ts: Date.now(), deviceId: fx.deviceId, body: { kind: 'self-destruct', expiresAt: soon() } }
    await fx.controller.publishAsync(fx.codec.topics.cmd(fx.deviceId), JSON.stringify(raw), { qos: 1 })
    expect(await fx.waitReply(id)).toMatchObject({ ok: false, error: { code: 'PROTO_UNKNOWN_COMMAND' } })
    await fx.controller.publishAsync(fx.codec.topics.cmd(fx.deviceId), JSON.stringify(raw), { qos: 1 })
    await waitFor(() => fx.replies.filter((r) => r.commandId === id).length === 2)
    const [a, b] = fx.replies.filter((r) => r.commandId === id)
    expect(b).toEqual(a)
  })

  it('answers a command with a bad field with its decode error; one for another device is not answered', async () => {
    await using fx = await createFixture(broker.url)
    await deviceOn(fx, ['1.0.0'])
    const bad = {
      v: 1,
      type: 'command',
      id: 'cmd-bad',
      ts: Date.now(),
      deviceId: fx.deviceId,
      body: { kind: 'ping', expiresAt: 1_700_000 },
    }
    const stray = { ...bad, id: 'cmd-stray', deviceId: 'someone-else', body: { kind: 'ping', expiresAt: soon() } }
    await fx.controller.publishAsync(fx.codec.topics.cmd(fx.deviceId), JSON.stringify(stray), { qos: 1 })
    await fx.controller.publishAsync(fx.codec.topics.cmd(fx.deviceId), JSON.stringify(bad), { qos: 1 })
    expect(await fx.waitReply('cmd-bad')).toMatchObject({ ok: false, error: { code: 'PROTO_TIME_UNIT' } })
    expect(fx.replies.some((r) => r.commandId === 'cmd-stray')).toBe(false)
  })

  it('refuses a rollback when there is no previous model', async () => {
    await using fx = await createFixture(broker.url)
    await deviceOn(fx, ['1.0.0'])
    const reply = await fx.waitReply(await fx.command({ kind: 'rollback', expiresAt: soon(), to: { to: 'previous' } }))
    expect(reply).toMatchObject({ ok: false, error: { code: 'AGENT_NO_PREVIOUS_MODEL' } })
  })

  it('rolls back to a named resident version', async () => {
    await using fx = await createFixture(broker.url)
    const { driver } = await deviceOn(fx, ['1.0.0', '2.0.0'])
    const reply = await fx.waitReply(await fx.command({ kind: 'rollback', expiresAt: soon(), to: { to: 'version', version: '1.0.0' } }))
    expect(reply).toMatchObject({ ok: true, result: { activeVersion: '1.0.0', changed: true } })
    expect(driver.activeVersion).toBe('1.0.0')
  })

  it('rolls back to a named version that is not resident by fetching it first', async () => {
    await using fx = await createFixture(broker.url)
    const { driver } = await deviceOn(fx, ['1.0.0', '2.0.0', '3.0.0'])
    const old = fx.model({ version: '0.9.0' })
    const reply = await fx.waitReply(
      await fx.command({ kind: 'rollback', expiresAt: soon(), to: { to: 'version', version: '0.9.0', model: old } }),
    )
    expect(reply).toMatchObject({ ok: true, result: { activeVersion: '0.9.0', changed: true } })
    expect(driver.activeVersion).toBe('0.9.0')
    expect(driver.activations.at(-1)).toBe('0.9.0')
    const forged = { ...fx.model({ version: '0.8.0' }), sha256: '0'.repeat(64) }
    const refused = await fx.waitReply(
      await fx.command({ kind: 'rollback', expiresAt: soon(), to: { to: 'version', version: '0.8.0', model: forged } }),
    )
    expect(refused).toMatchObject({ ok: false, error: { code: 'PACKAGE_SHA256_MISMATCH' } })
    expect(driver.activeVersion).toBe('0.9.0')
    expect((await fx.waitPhase('active')).phase).toBe('active')
  })

  it('answers ping, status, verify, profile and evaluate', async () => {
    await using fx = await createFixture(broker.url)
    const { agent, driver } = await deviceOn(fx, ['1.0.0'])
    driver.faults.energyMj = 0.01
    driver.sensors.powerMw = 100
    await agent.infer(new Float32Array(4))
    await agent.closeWindow() // the energy check judges average power at the device's own workload
    const ping = await fx.waitReply(await fx.command({ kind: 'ping', expiresAt: soon() }))
    expect(ping).toMatchObject({ ok: true, result: { kind: 'ping', agentVersion: '0.1.0' } })
    const slots = await fx.waitReply(await fx.command({ kind: 'status', expiresAt: soon(), metric: 'slots' }))
    expect(slots).toMatchObject({ ok: true, result: { slots: [{ slot: 'a', role: 'active' }] } })
    const storage = await fx.waitReply(await fx.command({ kind: 'status', expiresAt: soon(), metric: 'storage' }))
    expect(storage.ok && storage.result.kind === 'status' && storage.result.storage?.usedByModelsBytes).toBeGreaterThan(0)
    // A driver that cannot read the device's memory: the host's, said so.
    const host = await fx.waitReply(await fx.command({ kind: 'status', expiresAt: soon(), metric: 'memory' }))
    expect(host.ok && host.result.kind === 'status' && host.result.memory?.rssBytes).toBeGreaterThan(0)
    expect(host.ok && host.result.kind === 'status' && host.result.memory?.measuredOn).toBe('host')
    // One that can (an MCU's RAM): the device's own figures, not the process the agent runs in.
    driver.sensors.memory = { usedBytes: 300_000, totalBytes: 1_048_576 }
    const own = await fx.waitReply(await fx.command({ kind: 'status', expiresAt: soon(), metric: 'memory' }))
    expect(own).toMatchObject({
      ok: true,
      result: { memory: { systemTotalBytes: 1_048_576, systemFreeBytes: 748_576, measuredOn: 'device' } },
    })
    const verify = await fx.waitReply(await fx.command({ kind: 'verify', expiresAt: soon(), suite: 'integration', samples: 50 }))
    expect(verify).toMatchObject({ ok: true, result: { kind: 'verify', passed: true, modelVersion: '1.0.0' } })
    expect(verify.ok && verify.result.kind === 'verify' && verify.result.checks.map((c) => c.name)).toEqual([
      'golden',
      'latency-p95',
      'energy',
    ])
    const profile = await fx.waitReply(await fx.command({ kind: 'profile', expiresAt: soon(), metric: 'latency', samples: 100 }))
    expect(profile).toMatchObject({ ok: true, result: { kind: 'profile', unit: 'ms', quantiles: { samples: 100, p50: 0.05 } } })
    const energy = await fx.waitReply(await fx.command({ kind: 'profile', expiresAt: soon(), metric: 'energy', samples: 10 }))
    expect(energy).toMatchObject({ ok: true, result: { unit: 'mW', quantiles: { samples: 10 } } })
    const evaluation = await fx.waitReply(await fx.command({ kind: 'evaluate', expiresAt: soon(), dataset: 'validation' }))
    expect(evaluation).toMatchObject({ ok: true, result: { kind: 'evaluate', samples: 3, correct: 3, accuracy: 1 } })
    driver.faults.outputOffset = 1
    const failing = await fx.waitReply(await fx.command({ kind: 'verify', expiresAt: soon(), suite: 'smoke' }))
    expect(failing).toMatchObject({
      ok: true,
      result: { passed: false, checks: [{ name: 'golden', passed: false, code: 'CHECK_GOLDEN_MISMATCH', values: { tolerance: 1e-4 } }] },
    })
  })

  it('judges energy in an integration verify as average power at the device workload, not back to back', async () => {
    await using fx = await createFixture(broker.url)
    // 1 mJ per 0.05 ms inference is 20 W back to back; the 500 mW budget is an average at the device's own rate.
    const { agent, driver } = await fx.startAgent({ telemetryTimer: false, driverOptions: { faults: { energyMj: 1 } } })
    await fx.desired(1, fx.model({ version: '1.0.0', energyBudgetMw: 500 }))
    await fx.waitPhase('active', 1)
    const energy = async () => {
      const reply = await fx.waitReply(await fx.command({ kind: 'verify', expiresAt: soon(), suite: 'integration', samples: 20 }))
      return reply.ok && reply.result.kind === 'verify' ? reply.result.checks.find((c) => c.name === 'energy') : reply
    }
    // No window with power yet: unknown, and unknown is not a pass.
    expect(await energy()).toMatchObject({ passed: false, observed: null, code: 'CHECK_NO_WORKLOAD' })

    driver.sensors.powerMw = 120
    for (let i = 0; i < 10; i++) await agent.infer(new Float32Array(4))
    const window = await agent.closeWindow()
    const measured = await energy()
    expect(measured).toMatchObject({ passed: true, threshold: 500, code: 'CHECK_PASSED' })
    // An average over the window's span: 120 up to floating-point rounding.
    expect(measured && 'observed' in measured ? measured.observed : null).toBeCloseTo(120, 6)

    // A candidate staged beside it that needs 1 J per inference: at this workload's rate it would blow the budget.
    driver.faultsByVersion['2.0.0'] = { energyMj: 1000 }
    await fx.desired(2, fx.model({ version: '2.0.0', energyBudgetMw: 500 }), { mode: 'stage' })
    await fx.waitPhase('staged', 2)
    const rate = window.inferences / (window.windowMs / 1000)
    const staged = await energy()
    expect(staged).toMatchObject({ passed: false, threshold: 500, code: 'CHECK_OVER_LIMIT' })
    expect(staged && 'observed' in staged ? staged.observed : null).toBeCloseTo(120 + rate * 999, 3)
  })

  it('streams logs with follow in parts, the last one final', async () => {
    await using fx = await createFixture(broker.url)
    await deviceOn(fx, ['1.0.0'])
    const id = await fx.command({ kind: 'logs', expiresAt: soon(), lines: 5, follow: true, followMs: 600 })
    await waitFor(() => fx.replies.find((r) => r.commandId === id && r.part === 0))
    await fx.command({ kind: 'ping', expiresAt: soon() })
    const last = await fx.waitReply(id)
    const parts = fx.replies.filter((r) => r.commandId === id)
    expect(parts.map((p) => p.part)).toEqual(parts.map((_, i) => i))
    expect(parts.slice(0, -1).every((p) => !p.final)).toBe(true)
    expect(last.final).toBe(true)
    const lines = parts.flatMap((p) => (p.ok && p.result.kind === 'logs' ? p.result.lines.map((l) => l.msg) : []))
    expect(lines.some((l) => l.startsWith('command received') && l.includes('kind=ping'))).toBe(true)
  })

  it("keeps debug lines, each telemetry window's figures among them, while the desired state's policy asks for debug", async () => {
    await using fx = await createFixture(broker.url)
    const { agent } = await fx.startAgent()
    const policy = { trialMs: 300, latencyThresholdMs: 5, minSamples: 5 }
    const model = fx.model({ version: '1.0.0', energyBudgetMw: 500 })
    const logs = async (): Promise<string[]> => {
      const id = await fx.command({ kind: 'logs', expiresAt: soon(), lines: 500 })
      const r = await fx.waitReply(id)
      return r.ok && r.result.kind === 'logs' ? r.result.lines.map((l) => `${l.level} ${l.msg}`) : []
    }
    await fx.desired(1, model, { policy: { ...policy, debug: true } })
    await fx.waitPhase('active', 1)
    await agent.infer(new Float32Array(4))
    await waitFor(async () =>
      (await logs()).some((l) => /^debug telemetry window seq=\d+ model="?fake-model@1\.0\.0"? inferences=/.test(l)),
    )
    const verbose = await logs()
    expect(verbose).toContain(`info debug logging on generation=1 rolloutId=null`)
    expect(verbose.some((l) => l.startsWith('debug package verified'))).toBe(true)
    expect(verbose.some((l) => l.startsWith('debug self-test passed'))).toBe(true)

    await fx.desired(2, model, { policy })
    await fx.waitPhase('active', 2)
    const off = await waitFor(async () => {
      const lines = await logs()
      const at = lines.indexOf('info debug logging off')
      return at >= 0 && fx.telemetry.length > 0 ? { lines, at, windows: fx.telemetry.length } : null
    })
    await waitFor(() => fx.telemetry.length > off.windows + 2)
    expect((await logs()).slice(off.at + 1).filter((l) => l.startsWith('debug '))).toEqual([])
  })

  it('refuses an undecodable command and keeps running', async () => {
    await using fx = await createFixture(broker.url)
    const { agent } = await deviceOn(fx, ['1.0.0'])
    const refused: string[] = []
    agent.on('messageRefused', (e) => refused.push(e.code))
    await fx.controller.publishAsync(fx.codec.topics.cmd(fx.deviceId), '{"not":"a command"', { qos: 1 })
    await waitFor(() => refused.length === 1)
    expect(refused).toEqual(['PROTO_INVALID_JSON'])
    const ping = await fx.waitReply(await fx.command({ kind: 'ping', expiresAt: soon() }))
    expect(ping.ok).toBe(true)
  })
})
