import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectClient, startPlainBroker, uniqueRoot, type PlainBroker } from '@liquid-edge/test/harness'
import { createCodec, deviceMessage, type Codec, type Policy, type Reported, type Status, type Telemetry } from '@liquid-edge/protocol'
import type { MqttClient } from 'mqtt'
import {
  createSimulatedFleet,
  writeDemoPackages,
  type DemoIndex,
  type SimulatedFleet,
  type SimulatedFleetOptions,
} from '@liquid-edge/devices'

/** The latest message of each kind per device, as a controller would see them. */
export interface Observed {
  reported: Map<string, Reported>
  status: Map<string, Status>
  telemetry: Map<string, Telemetry[]>
  statusLog: Map<string, Status[]>
  /** Device events (started, crashed, …) in arrival order. */
  events: Map<string, string[]>
}

/** A broker, an artifact server with the signed demo packages, and an observer client on a unique root. */
export interface FleetEnv extends AsyncDisposable {
  broker: PlainBroker
  root: string
  codec: Codec
  dir: string
  demo: DemoIndex
  artifactUrl(file: string): string
  observer: MqttClient
  observed: Observed
  /** Publish the demo package's desired state; `policy` overrides the package's budgets (e.g. per hardware class). */
  deploy(ids: readonly string[], version: string, generation: number, policy?: Partial<Policy>): Promise<void>
  /** A simulated stm32h743 fleet of `ids` on this broker and root, trusting the demo key. */
  startFleet(ids: string[], options: Partial<SimulatedFleetOptions>): Promise<SimulatedFleet>
}

export async function startFleetEnv(): Promise<FleetEnv> {
  const dir = mkdtempSync(join(tmpdir(), 'lln-fleet-'))
  const demo = await writeDemoPackages(join(dir, 'models'), join(dir, 'publisher.pem'))
  const broker = await startPlainBroker()
  const root = uniqueRoot()
  const codec = createCodec({ root })
  const http: Server = createServer((req, res) => {
    readFile(join(dir, 'models', (req.url ?? '').replace(/^\/+/, '').replace(/[^A-Za-z0-9._-]/g, ''))).then(
      (body) => res.writeHead(200, { 'content-length': body.byteLength }).end(body),
      () => res.writeHead(404).end(),
    )
  })
  http.listen(0, '127.0.0.1')
  await once(http, 'listening')
  const port = (http.address() as AddressInfo).port
  const observer = await connectClient(broker.url)
  const observed: Observed = { reported: new Map(), status: new Map(), telemetry: new Map(), statusLog: new Map(), events: new Map() }
  observer.on('message', (topic, payload) => {
    const decoded = codec.decode(topic, payload)
    if (!decoded.ok) return
    const m = decoded.message
    if (m.type === 'reported') observed.reported.set(m.deviceId, m)
    if (m.type === 'status') {
      observed.status.set(m.deviceId, m)
      observed.statusLog.set(m.deviceId, [...(observed.statusLog.get(m.deviceId) ?? []), m])
    }
    if (m.type === 'telemetry') observed.telemetry.set(m.deviceId, [...(observed.telemetry.get(m.deviceId) ?? []), m])
    if (m.type === 'event') observed.events.set(m.deviceId, [...(observed.events.get(m.deviceId) ?? []), m.body.event])
  })
  await observer.subscribeAsync(
    [`${root}/devices/+/reported`, `${root}/devices/+/status`, `${root}/devices/+/telemetry`, `${root}/devices/+/events`],
    { qos: 1 },
  )
  const artifactUrl = (file: string) => `http://127.0.0.1:${port}/${file}`
  return {
    broker,
    root,
    codec,
    dir,
    demo,
    artifactUrl,
    observer,
    observed,
    async deploy(ids, version, generation, over = {}) {
      const pkg = demo.packages.find((p) => p.version === version)
      if (pkg === undefined) throw new Error(`no demo package ${version}`)
      const model = {
        name: pkg.name,
        version: pkg.version,
        sha256: pkg.sha256,
        size: pkg.size,
        url: artifactUrl(pkg.file),
        signature: pkg.signature,
      }
      const policy = {
        trialMs: 500,
        latencyThresholdMs: pkg.latencyThresholdMs,
        energyBudgetMw: pkg.energyBudgetMw,
        minSamples: 1,
        ...over,
      }
      await Promise.all(
        ids.map((id) =>
          observer.publishAsync(
            codec.topics.desired(id),
            Buffer.from(codec.encode(deviceMessage('desired', id, { generation, rolloutId: null, model, policy }))),
            {
              qos: 1,
              retain: true,
            },
          ),
        ),
      )
    },
    startFleet(ids, options) {
      return createSimulatedFleet({
        ids,
        brokerUrl: broker.url,
        root,
        profile: 'stm32h743',
        stateRoot: join(dir, 'state'),
        publisherKeys: [demo.publicKeyPem],
        ...options,
      })
    },
    async [Symbol.asyncDispose]() {
      await observer.endAsync(true)
      await broker.close()
      await new Promise((resolve) => http.close(resolve))
    },
  }
}
