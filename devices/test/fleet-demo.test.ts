import { describe, expect, it } from 'vitest'
import { waitFor } from '@liquid-edge/test/harness'
import { fleetDeviceIds } from '@liquid-edge/devices'
import { startFleetEnv } from './support/fleet-env.js'

describe('demo models on a simulated stm32h743 fleet', () => {
  it('runs v2 within budget and reverts v3 locally for energy when v3 is deployed', async () => {
    await using env = await startFleetEnv()
    const ids = fleetDeviceIds(2, 'demo')
    await using fleet = await env.startFleet(ids, {
      telemetryWindowMs: 250,
      ratePerS: 5,
    })
    expect(fleet.devices).toHaveLength(2)
    await env.deploy(ids, '1.1.0', 1)
    await waitFor(() => ids.every((id) => env.observed.reported.get(id)?.body.phase === 'active'), { timeoutMs: 20_000, what: 'v2 active' })
    const budget = env.demo.packages.find((p) => p.version === '2.0.0')!.energyBudgetMw!
    const v2Power = env.observed.telemetry
      .get(ids[0]!)!
      .filter((t) => t.body.model?.version === '1.1.0' && t.body.energy !== null)
      .map((t) => t.body.energy!.avgMw)
    expect(Math.max(...v2Power)).toBeLessThan(budget)

    await env.deploy(ids, '2.0.0', 2)
    await waitFor(() => ids.every((id) => env.observed.reported.get(id)?.body.phase === 'reverted'), {
      timeoutMs: 20_000,
      what: 'v3 reverted',
    })
    for (const id of ids) {
      const r = env.observed.reported.get(id)!.body
      expect(r.error?.code).toBe('AGENT_TRIAL_ENERGY')
      expect(r.slots.find((s) => s.role === 'active')?.model.version).toBe('1.1.0')
    }
  })
})
