/**
 * A real agent process for the crash tests: a FakeDriver at the hardware edge, configured by the
 * JSON in argv[2]; writes one JSON line per phase change to stdout so the parent knows when to kill it.
 */
import { createAgent } from '@liquid-edge/agent'
import { FakeDriver, type FakeFaults } from '@liquid-edge/test/harness'

interface ChildConfig {
  deviceId: string
  root: string
  stateDir: string
  brokerUrl: string
  publicKeyPem: string
  faultsByVersion?: Record<string, FakeFaults>
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig
const driver = new FakeDriver({ faultsByVersion: config.faultsByVersion ?? {} })
const say = (line: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify(line) + '\n')
}
const origLoad = driver.load.bind(driver)
driver.load = (slot, image) => {
  say({ load: image.manifest.version, slot })
  return origLoad(slot, image)
}
const agent = await createAgent({
  deviceId: config.deviceId,
  root: config.root,
  stateDir: config.stateDir,
  driver,
  publisherKeys: [config.publicKeyPem],
  mqtt: { url: config.brokerUrl, reconnectMinMs: 50, reconnectMaxMs: 300 },
  telemetryWindowMs: 200,
  download: { headersTimeoutMs: 60_000, idleTimeoutMs: 60_000 },
})
agent.on('phaseChanged', (phase, error) => {
  say({
    phase,
    generation: agent.state.pending?.generation ?? agent.state.generation,
    code: error?.code ?? null,
    active: driver.activeVersion,
  })
})
say({ ready: true, active: driver.activeVersion, phase: agent.state.phase, code: agent.state.error?.code ?? null })
process.on('SIGTERM', () => {
  void agent.close().then(() => process.exit(0))
})
