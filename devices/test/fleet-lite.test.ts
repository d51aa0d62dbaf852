import { describe, expect, it } from 'vitest'
import { waitFor } from '@liquid-edge/test/harness'
import { fleetDeviceIds } from '@liquid-edge/devices'
import { startFleetEnv } from './support/fleet-env.js'

describe('simulated fleet on light MQTT sessions', () => {
  it('installs a downloaded model on 300 agents that share one copy of the package when their state is in memory', async () => {
    await using env = await startFleetEnv()
    const ids = fleetDeviceIds(300, 'lite')
    const progress: number[] = []
    await using fleet = await env.startFleet(ids, {
      sessions: 'lite',
      connectsPerS: 400,
      stateStore: 'memory',
      bufferOnDisk: false,
      telemetryWindowMs: 500,
      ratePerS: 2,
      onStarted: (started) => progress.push(started),
    })
    expect(progress.at(-1)).toBe(300)
    await waitFor(() => fleet.stats().online === 300, { timeoutMs: 60_000, what: '300 agents online' })
    await waitFor(() => ids.every((id) => env.observed.status.get(id)?.body.online === true && env.observed.reported.has(id)), {
      timeoutMs: 30_000,
      what: 'retained status online and reported state of every device',
    })

    await env.deploy(ids, '1.0.0', 1)
    await waitFor(() => ids.every((id) => env.observed.reported.get(id)?.body.phase === 'active'), {
      timeoutMs: 60_000,
      what: '1.0.0 active on every device',
    }).catch((err: unknown) => {
      const phases: Record<string, number> = {}
      for (const id of ids) {
        const r = env.observed.reported.get(id)?.body
        const k = `${r?.phase}:${r?.error?.code}:${r?.error?.message}`
        phases[k] = (phases[k] ?? 0) + 1
      }
      throw new Error(`${String(err)} ${JSON.stringify(phases)} ${JSON.stringify(fleet.stats())}`)
    })
    await waitFor(
      () => ids.every((id) => env.observed.telemetry.get(id)?.some((t) => t.body.model?.version === '1.0.0' && t.body.inferences > 0)),
      {
        timeoutMs: 60_000,
        what: 'inferences on 1.0.0 in every device telemetry',
      },
    )
    const pkg = env.demo.packages.find((p) => p.version === '1.0.0')!
    // 300 slots hold the package; the process keeps it once.
    expect(fleet.blobs.stats).toEqual({ blobs: 1, bytes: pkg.size })
  }, 300_000)

  it('publishes the Last Will of a crashed device whose link is cut, then brings it back with a new session', async () => {
    await using env = await startFleetEnv()
    const ids = fleetDeviceIds(5, 'lite-crash')
    await using fleet = await env.startFleet(ids, { sessions: 'lite', stateStore: 'memory', crashRestartMs: 200, telemetryWindowMs: 250 })
    const crashId = ids[2]!
    await waitFor(() => env.observed.status.get(crashId)?.body.online === true, { timeoutMs: 20_000, what: 'the device online' })
    const sessionBefore = env.observed.status.get(crashId)!.body.session
    fleet.setFaults({ ids: [crashId] }, { crash: true })
    await waitFor(
      () => {
        const log = env.observed.statusLog.get(crashId) ?? []
        const down = log.findIndex((s) => !s.body.online && s.body.session === sessionBefore)
        return down >= 0 && log.slice(down).some((s) => s.body.online && s.body.session > sessionBefore)
      },
      { timeoutMs: 20_000, what: 'Last Will offline, then online with a new session' },
    )
    await waitFor(() => env.observed.events.get(crashId)?.includes('crashed'), { what: 'the restarted agent reports crashed' })
    // The others never went offline.
    for (const id of ids.filter((i) => i !== crashId)) expect((env.observed.statusLog.get(id) ?? []).every((s) => s.body.online)).toBe(true)
  })
})
