import type { Telemetry } from '@liquid-edge/protocol'
import { describe, expect, it } from 'vitest'
import { waitFor } from '@liquid-edge/test/harness'
import { fleetDeviceIds } from '@liquid-edge/devices'
import { startFleetEnv } from './support/fleet-env.js'

const after = (list: Telemetry[] | undefined, ts: number) => (list ?? []).filter((t) => t.body.windowStart >= ts)

describe('simulated fleet faults, as the controller sees them', () => {
  it('shows every injected fault in telemetry, status or reported state when switched on at run time', async () => {
    await using env = await startFleetEnv()
    const ids = fleetDeviceIds(8, 'fault')
    await using fleet = await env.startFleet(ids, {
      telemetryWindowMs: 250,
      ratePerS: 40,
      crashRestartMs: 200,
    })
    await env.deploy(ids, '1.0.0', 1)
    await waitFor(() => ids.every((id) => env.observed.reported.get(id)?.body.phase === 'active'), {
      timeoutMs: 20_000,
      what: 'v1 active everywhere',
    })
    const baseline = after(env.observed.telemetry.get(ids[1]!), 0).find((t) => t.body.latencyMs !== null)!.body
    const baseEnergy = after(env.observed.telemetry.get(ids[2]!), 0).find((t) => t.body.inferences > 0)!.body.energy!.avgMw
    const [errorId, slowId, hotId, hangId, crashId, flapId, fullId, corruptId] = ids as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ]
    const t0 = Date.now()
    fleet.setFaults({ ids: [errorId] }, { errorRate: 0.5 })
    fleet.setFaults({ ids: [slowId] }, { latencyFactor: 6 })
    fleet.setFaults({ ids: [hotId] }, { energyFactor: 4 })
    fleet.setFaults({ ids: [hangId] }, { hang: true })
    fleet.setFaults({ ids: [flapId] }, { flappingPeriodMs: 400 })
    fleet.setFaults({ ids: [fullId] }, { diskFull: true })
    fleet.setFaults({ ids: [corruptId] }, { corruptDownload: true })
    const sessionBefore = env.observed.status.get(crashId)!.body.session
    fleet.setFaults({ ids: [crashId] }, { crash: true })

    await waitFor(
      () => after(env.observed.telemetry.get(errorId), t0).some((t) => t.body.errors > 0 && t.body.errors >= t.body.inferences / 4),
      { what: 'errors in telemetry' },
    )
    await waitFor(
      () => after(env.observed.telemetry.get(slowId), t0).some((t) => (t.body.latencyMs?.p50 ?? 0) > 4 * baseline.latencyMs!.p50),
      { what: 'latency regression in telemetry' },
    )
    await waitFor(() => after(env.observed.telemetry.get(hotId), t0 + 300).some((t) => (t.body.energy?.avgMw ?? 0) > 3 * baseEnergy), {
      what: 'energy spike in telemetry',
    })
    await waitFor(
      () => after(env.observed.telemetry.get(hangId), t0 + 300).filter((t) => t.body.inferences === 0 && t.body.model !== null).length >= 2,
      {
        what: 'a hung device reporting windows without inferences',
      },
    )
    await waitFor(
      () => {
        const log = env.observed.statusLog.get(crashId) ?? []
        const down = log.findIndex((s) => !s.body.online && s.body.session === sessionBefore)
        return down >= 0 && log.slice(down).some((s) => s.body.online && s.body.session > sessionBefore)
      },
      { what: 'crash: Last Will offline, then online with a new session' },
    )
    await waitFor(() => env.observed.events.get(crashId)?.includes('crashed'), { what: 'crash: the restarted agent reports crashed' })
    // … and runs its model again, restored from its slots after the "reboot".
    const up = Date.now()
    await waitFor(
      () => after(env.observed.telemetry.get(crashId), up).some((t) => t.body.model?.version === '1.0.0' && t.body.inferences > 0),
      { what: 'crash: inferences on the restored model' },
    )
    await waitFor(() => (env.observed.statusLog.get(flapId) ?? []).filter((s) => !s.body.online).length >= 2, {
      what: 'flapping: repeated offline',
    })

    await env.deploy([fullId, corruptId], '1.1.0', 2)
    await waitFor(() => env.observed.reported.get(corruptId)?.body.error?.code === 'PACKAGE_SHA256_MISMATCH', {
      what: 'corrupted download refused',
    })
    await waitFor(() => env.observed.reported.get(fullId)?.body.phase === 'failed', { what: 'disk full: update failed' })
    expect(env.observed.reported.get(fullId)?.body.error?.code).toMatch(/AGENT_DISK_FULL|AGENT_LOAD_FAILED/)
    // Both still run v1: a failed update never leaves a device without its working model.
    for (const id of [fullId, corruptId])
      expect(env.observed.reported.get(id)?.body.slots.find((s) => s.role === 'active')?.model.version).toBe('1.0.0')
  })
})
