/**
 * The reconnect grace with a real broker restart: the controller reconnects first and hears the
 * fleet again, while the devices are still in their reconnect back-off. None of them is sent back
 * for that; a device that never returns is, once the grace and the rule's window have run out.
 */
import { describe, expect, it } from 'vitest'
import { redisClient, waitFor } from '@liquid-edge/test/harness'
import { createKeys } from '../src/keys.js'
import { api } from './helpers.js'
import { TelemetryPublisher, telemetryEnv } from './telemetry/env.js'
import { byModel, scenario, type AuditEvent } from './telemetry/scenario.js'

/** Longer than the wait below for the rules to judge the gap, whatever the machine's load. */
const GRACE_MS = 8000
// Silence is heard up to one listening beat (a third of the duty lease) after the link drops: the window is longer.
const WINDOW_MS = 1000

const sentBack = (events: AuditEvent[]) => events.filter((e) => e.event === 'decision' && e.action === 'rollback-device')

describe('a broker restart', () => {
  it('sends back no device still reconnecting, and the one that never returns once the grace ran out', async () => {
    await using env = await telemetryEnv({ reconnectGraceMs: GRACE_MS, dutyLeaseMs: 600 })
    const c = await env.start()
    await using s = await scenario(env, c, 3)
    const rules = [
      { name: 'device-unresponsive', metric: 'unresponsive', threshold: 0, windowMs: WINDOW_MS, action: 'rollback-device' },
    ] as const
    // A short switch grace: silence after the dispatch counts half a second after it.
    const id = await s.deployV2([...rules], false, { switchGraceMs: 500 })
    s.telemetry.run(s.ids, byModel(s.devices, {}))
    type States = { states: { at: number; results: { outcome: string; devices: string[] }[] } | null }
    const judgedAfter = (t: number) => async () => {
      const st = (await api(c)<States>('GET', `/v1/rollouts/${id}/rules`)).body.states
      return st !== null && st.at > t ? st : null
    }
    const redis = redisClient()
    const keys = createKeys(env.prefix)
    await waitFor(async () => (await redis.hlen(keys.telemetry)) === s.ids.length, { what: 'every device heard' })
    const heardAt = Date.now()
    await waitFor(async () => (await judgedAfter(heardAt)())?.results[0]?.outcome === 'healthy', { what: 'the fleet judged healthy' })

    // Every session is lost; the controller reconnects by itself and listens again, the devices are still away.
    // (The devices' telemetry stops with their sessions, as the controller's link drops.)
    const restartedAt = Date.now()
    await env.restartBroker()
    s.telemetry.stop()
    const listening = `${keys.duty('telemetry-ingest')}:listening`
    const since = await waitFor(
      async () => {
        const v = Number(await redis.hget(listening, 'since'))
        return v > restartedAt ? v : null
      },
      { timeoutMs: 30_000, what: 'the controller to listen again' },
    )
    // Judged three windows into the new span with nobody back: no device counts yet (without the grace, all of them).
    const st = await waitFor(
      async () => {
        const early = sentBack(await s.events(id))
        return early.length > 0 ? { sentBack: early.map((e) => e.evidence?.devices) } : await judgedAfter(since + 3 * WINDOW_MS)()
      },
      { timeoutMs: 15_000, what: 'the rule judged inside the grace' },
    )
    expect(st).toMatchObject({ results: [{ outcome: 'healthy', devices: [] }] })
    expect(sentBack(await s.events(id))).toEqual([])

    // Two devices come back (their telemetry flowing as they connect); dev-2 stays away.
    await using back = await TelemetryPublisher.connect(env.broker.url, env.root)
    const returning = s.devices.filter((d) => d.id !== 'dev-2')
    back.run(
      returning.map((d) => d.id),
      byModel(s.devices, {}),
    )
    for (const d of returning) await d.start()
    const decision = await waitFor(async () => sentBack(await s.events(id))[0], { timeoutMs: 30_000, what: 'dev-2 sent back' })
    expect(decision.evidence).toMatchObject({ rule: 'device-unresponsive', devices: ['dev-2'] })
    // Not before the grace and the window had run out (on the listener's clock).
    expect(decision.at).toBeGreaterThan(since + GRACE_MS + WINDOW_MS)
    expect(sentBack(await s.events(id))).toHaveLength(1)
    await redis.quit()
  }, 90_000)
})
