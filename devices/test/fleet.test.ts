import { describe, expect, it } from 'vitest'
import { startPlainBroker, waitFor } from '@liquid-edge/test/harness'
import { fleetDeviceIds } from '@liquid-edge/devices'
import { startFleetEnv } from './support/fleet-env.js'

describe('simulated fleet', () => {
  it('connects 200 agents that each report and publish telemetry when started against a plain broker', async () => {
    await using env = await startFleetEnv()
    const ids = fleetDeviceIds(200, 'fleet')
    await using fleet = await env.startFleet(ids, {
      telemetryWindowMs: 500,
    })
    await waitFor(() => fleet.stats().online === 200, { timeoutMs: 60_000, what: '200 agents online' })
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
  }, 150_000)

  it('spreads its devices over the nodes of a broker list, each device starting at its own node', async () => {
    await using env = await startFleetEnv()
    await using second = await startPlainBroker()
    const on = new Map<string, string[]>([
      ['first', []],
      ['second', []],
    ])
    env.broker.aedes.on('clientReady', (c) => on.get('first')?.push(c.id))
    second.aedes.on('clientReady', (c) => on.get('second')?.push(c.id))
    const ids = fleetDeviceIds(6, 'spread')
    await using fleet = await env.startFleet(ids, { brokerUrl: [env.broker.url, second.url] })
    await waitFor(() => fleet.stats().online === 6, { timeoutMs: 30_000, what: '6 agents online' })
    const devices = (node: string) => (on.get(node) ?? []).filter((id) => id.startsWith('spread-')).sort()
    // Device i starts at node i mod 2: the 1st, 3rd and 5th on the first broker, the others on the second.
    expect(devices('first')).toEqual([ids[0], ids[2], ids[4]])
    expect(devices('second')).toEqual([ids[1], ids[3], ids[5]])
  })
})
