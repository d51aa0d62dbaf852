import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { KeyObject } from 'node:crypto'
import type { MqttClient } from 'mqtt'
import { pino } from 'pino'
import { createAgent, type Agent, type AgentOptions } from '@liquid-edge/agent'
import {
  createCodec,
  deviceMessage,
  type Codec,
  type CommandInput,
  type MessageInputOf,
  type ModelRef,
  type Phase,
  type ReplyBody,
  type ReportedBody,
  type TelemetryBody,
} from '@liquid-edge/protocol'
import {
  FakeDriver,
  buildFakePackage,
  connectClient,
  publisherKeyPair,
  startArtifactServer,
  uniqueRoot,
  waitFor,
  type ArtifactServer,
  type FakeDriverOptions,
  type FakePackageOptions,
} from '@liquid-edge/test/harness'

/** Everything a test needs around one device: keys, an artifact server, a controller-side MQTT client. */
export interface Fixture extends AsyncDisposable {
  readonly root: string
  readonly deviceId: string
  readonly stateDir: string
  readonly codec: Codec
  readonly keys: { publicKeyPem: string; privateKey: KeyObject }
  readonly artifacts: ArtifactServer
  readonly controller: MqttClient
  /** Every message seen on the device's topics, decoded. */
  readonly reported: ReportedBody[]
  readonly replies: ReplyBody[]
  readonly telemetry: TelemetryBody[]
  readonly events: { event: string; error?: { code: string } | undefined }[]
  readonly status: { online: boolean; session: number; gateway?: string | undefined }[]
  /** Build, serve and describe a signed package. */
  model(options: FakePackageOptions): ModelRef
  desired(generation: number, model: ModelRef | null, extra?: Partial<MessageInputOf<'desired'>['body']>): Promise<void>
  command(body: CommandInput, id?: string): Promise<string>
  startAgent(
    options?: Partial<AgentOptions> & { driver?: FakeDriver; driverOptions?: FakeDriverOptions },
  ): Promise<{ agent: Agent; driver: FakeDriver }>
  waitPhase(phase: Phase, generation?: number, timeoutMs?: number): Promise<ReportedBody>
  waitReply(id: string, timeoutMs?: number): Promise<ReplyBody>
  close(): Promise<void>
}

let counter = 0

export async function createFixture(brokerUrl: string, opts: { agentUrl?: string } = {}): Promise<Fixture> {
  const root = uniqueRoot()
  const deviceId = `dev-${process.pid}-${++counter}`
  const codec = createCodec({ root })
  const stateDir = await mkdtemp(join(tmpdir(), 'lln-agent-'))
  const keys = publisherKeyPair()
  const artifacts = await startArtifactServer()
  const controller = await connectClient(brokerUrl, { clientId: `ctl-${deviceId}-${Math.random().toString(36).slice(2, 8)}` })
  const reported: ReportedBody[] = []
  const replies: ReplyBody[] = []
  const telemetry: TelemetryBody[] = []
  const events: Fixture['events'] = []
  const status: Fixture['status'] = []
  controller.on('message', (topic, payload) => {
    if (payload.byteLength === 0) return
    const d = codec.decode(topic, payload)
    if (!d.ok) return
    const m = d.message
    if (m.type === 'reported') reported.push(m.body)
    else if (m.type === 'reply') replies.push(m.body)
    else if (m.type === 'telemetry') telemetry.push(m.body)
    else if (m.type === 'event') events.push({ event: m.body.event, error: m.body.error })
    else if (m.type === 'status') status.push(m.body)
  })
  await controller.subscribeAsync(`${root}/devices/${deviceId}/+`, { qos: 1 })
  const agents: Agent[] = []
  const drivers: FakeDriver[] = []

  const fixture: Fixture = {
    root,
    deviceId,
    stateDir,
    codec,
    keys,
    artifacts,
    controller,
    reported,
    replies,
    telemetry,
    events,
    status,
    model(options) {
      const pkg = buildFakePackage(keys.privateKey, options)
      return artifacts.ref(`${options.name ?? 'fake-model'}-${options.version}.liquid`, pkg)
    },
    async desired(generation, model, extra = {}) {
      const body = { generation, rolloutId: null, model, policy: { trialMs: 300, latencyThresholdMs: 5, minSamples: 5 }, ...extra }
      await controller.publishAsync(codec.topics.desired(deviceId), Buffer.from(codec.encode(deviceMessage('desired', deviceId, body))), {
        qos: 1,
        retain: true,
      })
    },
    async command(body, id = `cmd-${Math.random().toString(36).slice(2, 10)}`) {
      await controller.publishAsync(
        codec.topics.cmd(deviceId),
        Buffer.from(codec.encode(deviceMessage('command', deviceId, body, { id }))),
        {
          qos: 1,
        },
      )
      return id
    },
    async startAgent(options = {}) {
      const driver = options.driver ?? new FakeDriver(options.driverOptions)
      const agent = await createAgent({
        deviceId,
        root,
        stateDir,
        driver,
        publisherKeys: [keys.publicKeyPem],
        mqtt: { url: opts.agentUrl ?? brokerUrl, reconnectMinMs: 50, reconnectMaxMs: 300, refusedDelayMs: 300 },
        telemetryWindowMs: 100,
        download: { headersTimeoutMs: 3000, idleTimeoutMs: 3000 },
        ...(process.env.LLN_TEST_LOG === undefined ? {} : { logger: pino({ level: 'debug' }, pino.destination(2)) }),
        ...options,
      })
      agent.on('error', () => undefined)
      agents.push(agent)
      drivers.push(driver)
      return { agent, driver }
    },
    waitPhase(phase, generation, timeoutMs = 10_000) {
      return waitFor(() => reported.find((r) => r.phase === phase && (generation === undefined || r.generation === generation)), {
        timeoutMs,
        what: `reported phase ${phase}${generation === undefined ? '' : ` gen ${generation}`}`,
      })
    },
    waitReply(id, timeoutMs = 10_000) {
      return waitFor(() => replies.find((r) => r.commandId === id && r.final), { timeoutMs, what: `reply to ${id}` })
    },
    async close() {
      for (const a of agents) await a.close()
      await controller.publishAsync(codec.topics.desired(deviceId), Buffer.alloc(0), { qos: 1, retain: true }).catch(() => undefined)
      await controller.publishAsync(codec.topics.reported(deviceId), Buffer.alloc(0), { qos: 1, retain: true }).catch(() => undefined)
      await controller.publishAsync(codec.topics.status(deviceId), Buffer.alloc(0), { qos: 1, retain: true }).catch(() => undefined)
      await controller.endAsync(true)
      await artifacts.close()
      await rm(stateDir, { recursive: true, force: true, maxRetries: 3 })
    },
    [Symbol.asyncDispose]: () => fixture.close(),
  }
  return fixture
}
