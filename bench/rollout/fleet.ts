/**
 * The devices of bench/rollout, in a process of their own (so that devices, controller and broker
 * each get CPU): `BENCH_MODE=agents` runs N simulated devices — real agents on light MQTT sessions,
 * state in memory, real downloads and package checks; `BENCH_MODE=raw` runs N bare light sessions
 * that only count the non-empty messages on their `desired` topic (the baseline). Counts go to the
 * parent every 100 ms.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSimulatedFleet, fleetDeviceIds, LiteMqttHub, type SimulatedFleet } from '@liquid-edge/devices'

const { BENCH_MODE = 'agents', BENCH_URL = '', BENCH_ROOT = '', BENCH_N = '0', BENCH_PREFIX = 'b', BENCH_KEY = '' } = process.env
const n = Number(BENCH_N)
const ids = fleetDeviceIds(n, BENCH_PREFIX)
// Optional: `id:secret` lines for a broker that authenticates devices, and MQTT.js sessions (which
// spread over a comma-separated list of nodes, device i from node i mod n) instead of light ones.
const passwords = new Map(
  (process.env.BENCH_PASSWORDS_FILE === undefined ? '' : readFileSync(process.env.BENCH_PASSWORDS_FILE, 'utf8'))
    .split('\n')
    .filter((l) => l.includes(':'))
    .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)] as const),
)
const sessions = process.env.BENCH_SESSIONS === 'mqtt.js' ? 'mqtt.js' : 'lite'

export interface FleetCounts {
  online: number
  /** Devices whose active model is each version, in phase `active`. */
  active: Record<string, number>
  /** Agents by update phase (a stalled deploy shows where it stands). */
  phases: Record<string, number>
  /** Raw mode: non-empty messages received on the devices' `desired` topics. */
  received: number
}

let counts: () => FleetCounts
let close: () => Promise<void>
if (BENCH_MODE === 'raw') {
  const hub = new LiteMqttHub({ url: BENCH_URL, root: BENCH_ROOT, connectsPerS: 2000 })
  let received = 0
  for (const id of ids) {
    await hub.transportFor(id).start({
      message: (kind, payload) => {
        if (kind === 'desired' && payload.byteLength > 0) received++
      },
      connected: () => undefined,
      disconnected: () => undefined,
      nextSession: () => Promise.resolve(1),
      status: (online) => Buffer.from(JSON.stringify({ online })),
    })
  }
  counts = () => ({ online: hub.connected, active: {}, phases: {}, received })
  close = () => hub.close()
} else {
  let started = 0
  const stateRoot = mkdtempSync(join(tmpdir(), 'lln-bench-rollout-'))
  const fleet: SimulatedFleet = await createSimulatedFleet({
    ids,
    brokerUrl: BENCH_URL.split(','),
    ...(passwords.size === 0 ? {} : { passwords }),
    root: BENCH_ROOT,
    profile: 'x86-edge',
    stateRoot, // state in memory; downloads are files, as on a device
    publisherKeys: [BENCH_KEY],
    sessions,
    connectsPerS: 2000,
    stateStore: 'memory',
    bufferOnDisk: false,
    ratePerS: 0.2,
    telemetryWindowMs: 10_000,
    onStarted: (s) => (started = s),
  })
  counts = () => {
    const active: Record<string, number> = {}
    const phases: Record<string, number> = {}
    let online = 0
    for (const d of fleet.devices) {
      const agent = d.agent
      if (agent === null) continue
      if (agent.connected) online++
      phases[agent.state.phase] = (phases[agent.state.phase] ?? 0) + 1
      const v = agent.state.phase === 'active' ? agent.model?.version : undefined
      if (v !== undefined) active[v] = (active[v] ?? 0) + 1
    }
    return { online: started === n ? online : 0, active, phases, received: 0 }
  }
  close = async () => {
    await fleet.close()
    rmSync(stateRoot, { recursive: true, force: true })
  }
}

const timer = setInterval(() => process.send?.(counts()), 100)
process.on('message', (m: unknown) => {
  if (m !== 'stop') return
  clearInterval(timer)
  void close().then(() => process.exit(0))
})
process.send?.(counts())
