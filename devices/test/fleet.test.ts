import { describe, expect, it } from 'vitest'
import { waitFor } from '@liquid-edge/test/harness'
import { fleetDeviceIds } from '@liquid-edge/devices'
import { startFleetEnv } from './support/fleet-env.js'

describe('simulated fleet', () => {
  it('connects 200 agents that each report and publish telemetry when started against a plain broker', async () => {
    await using env = await startFleetEnv()
    const ids = fleetDeviceIds(200, 'fleet')
    await using fleet = await env.startFleet(ids, {
      telemetryWindowMs: 500,
    })
    await waitFor(() => fleet.stats().online === 200, { timeoutMs: 30_000, what: '200 agents online' })
    await waitFor(() => ids.every((id) => env.observed.status.get(id)?.body.online === true && env.observed.reported.has(id)), {
      timeoutMs: 20_000,
      what: 'status and reported of every device',
    })
    await waitFor(() => ids.every((id) => (env.observed.telemetry.get(id)?.length ?? 0) >= 2), {
      timeoutMs: 20_000,
      what: 'telemetry from every device',
    })
    const reported = env.observed.reported.get(ids[0]!)!
    expect(reported.body).toMatchObject({ phase: 'idle', hardware: 'stm32h743' })
    const seqs = env.observed.telemetry.get(ids[7]!)!.map((t) => t.body.seq)
    expect(seqs[1]).toBe(seqs[0]! + 1)
    expect(fleet.stats()).toMatchObject({ count: 200, online: 200, running: 200 })
  })
})
