import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KeyObject } from 'node:crypto'
import { createAgent, type Agent, type SensorReadings } from '@liquid-edge/agent'
import { createCodec, deviceMessage } from '@liquid-edge/protocol'
import { buildFakePackage, startArtifactServer, type ArtifactServer, type FakePackage, type FakePackageOptions } from './agent.js'
import { FakeDriver, type FakeFaults } from './fake-driver.js'
import { connectClient } from './mqtt.js'
import { waitFor } from './wait.js'

/** One device of an {@link AgentFleet}: faults are applied once the model is active (so the self-test passes). */
export interface FleetDeviceSpec {
  id: string
  hardware?: string
  faults?: FakeFaults
  sensors?: Partial<SensorReadings>
}

export interface AgentFleetOptions {
  url: string
  root: string
  /** Signs the package; agents trust `publicKeyPem`. */
  privateKey: KeyObject
  publicKeyPem: string
  devices: readonly FleetDeviceSpec[]
  package: FakePackageOptions
  telemetryWindowMs?: number
}

/** Real agents (FakeDriver at the hardware edge) running one signed package, for controller-side tests. */
export interface AgentFleet extends AsyncDisposable {
  readonly pkg: FakePackage
  readonly artifacts: ArtifactServer
  readonly agents: ReadonlyMap<string, Agent>
  readonly drivers: ReadonlyMap<string, FakeDriver>
  /** Stop one agent (its Last Will marks it offline): an unreachable device. */
  stop(id: string): Promise<void>
  /** Run `n` inferences on a device through the agent (telemetry counts them). */
  infer(id: string, n: number): Promise<void>
  close(): Promise<void>
}

/** Real agents with no model yet, a {@link FakeDriver} each (faults and sensors are the driver's knobs). */
export interface Agents extends AsyncDisposable {
  readonly agents: ReadonlyMap<string, Agent>
  readonly drivers: ReadonlyMap<string, FakeDriver>
  close(): Promise<void>
}

/** Start one real agent per device on the broker at `url`, trusting `publicKeyPem`; none runs a model yet. */
export async function startAgents(
  o: Pick<AgentFleetOptions, 'url' | 'root' | 'publicKeyPem' | 'devices' | 'telemetryWindowMs'>,
): Promise<Agents> {
  const agents = new Map<string, Agent>()
  const drivers = new Map<string, FakeDriver>()
  const dirs: string[] = []
  let closing: Promise<void> | undefined
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await Promise.all([...agents.values()].map((a) => a.close()))
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
    })())
  for (const d of o.devices) {
    const stateDir = await mkdtemp(join(tmpdir(), 'lln-rb-agent-'))
    dirs.push(stateDir)
    const driver = new FakeDriver({
      ...(d.hardware === undefined ? {} : { hardware: d.hardware }),
      ...(d.sensors === undefined ? {} : { sensors: d.sensors }),
    })
    drivers.set(d.id, driver)
    const agent = await createAgent({
      deviceId: d.id,
      root: o.root,
      stateDir,
      driver,
      publisherKeys: [o.publicKeyPem],
      mqtt: { url: o.url, reconnectMinMs: 50, reconnectMaxMs: 500 },
      telemetryWindowMs: o.telemetryWindowMs ?? 200,
      telemetryBufferOnDisk: false,
    })
    agents.set(d.id, agent)
  }
  return { agents, drivers, close, [Symbol.asyncDispose]: close }
}

/**
 * Start real agents, assign them the package with a retained desired state (generation 1, a short
 * trial), wait until every one runs it, then inject each device's faults.
 */
export async function startAgentFleet(o: AgentFleetOptions): Promise<AgentFleet> {
  const artifacts = await startArtifactServer()
  const pkg = buildFakePackage(o.privateKey, o.package)
  const ref = artifacts.ref(`${pkg.manifest.name}-${pkg.manifest.version}.liquid`, pkg)
  const devices = await startAgents(o)
  const { agents, drivers } = devices
  const codec = createCodec({ root: o.root })
  const ctl = await connectClient(o.url, { clientId: `rb-desired-${Math.random().toString(36).slice(2, 10)}` })
  const policy = { trialMs: 50, latencyThresholdMs: pkg.manifest.latencyThresholdMs, minSamples: 1_000_000 }
  for (const d of o.devices) {
    const msg = deviceMessage('desired', d.id, { generation: 1, rolloutId: null, model: ref, policy })
    await ctl.publishAsync(codec.topics.desired(d.id), Buffer.from(codec.encode(msg)), { qos: 1, retain: true })
  }
  await ctl.endAsync()
  await waitFor(() => [...agents.values()].every((a) => a.state.phase === 'active'), { timeoutMs: 15_000 })
  for (const d of o.devices) {
    const driver = drivers.get(d.id)
    if (driver !== undefined && d.faults !== undefined) driver.faults = d.faults
  }
  let closing: Promise<void> | undefined
  const fleet: AgentFleet = {
    pkg,
    artifacts,
    agents,
    drivers,
    async stop(id) {
      await agents.get(id)?.close()
    },
    async infer(id, n) {
      const agent = agents.get(id)
      const input = Float32Array.from(pkg.manifest.golden[0]?.input ?? [0])
      for (let i = 0; i < n; i++) await agent?.infer(input).catch(() => undefined)
    },
    close() {
      return (closing ??= (async () => {
        await devices.close()
        await artifacts.close()
      })())
    },
    [Symbol.asyncDispose]() {
      return fleet.close()
    },
  }
  return fleet
}
