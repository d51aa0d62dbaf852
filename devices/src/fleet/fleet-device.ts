import { join } from 'node:path'
import { createAgent, createHttpFetcher, type Agent, type AgentOptions, type StateStore } from '@liquid-edge/agent'
import type { Logger } from 'pino'
import { SimulatedDriver } from '../simulated/driver.js'
import { Faults } from '../simulated/faults.js'
import { corruptingFetcher } from './corrupting-fetcher.js'
import { FLEET_RECONNECT, type LiteMqttHub } from './lite-mqtt.js'
import type { SharedBlobs } from './shared-blobs.js'

/** What every device of a fleet shares. */
export interface FleetDeviceContext {
  /** The broker's nodes (or their relays); each device starts at its own index. */
  brokerUrls: readonly string[]
  root: string
  stateRoot: string
  publisherKeys: AgentOptions['publisherKeys']
  telemetryWindowMs: number
  bufferOnDisk: boolean
  /** `memory`: agent state in memory (kept across simulated crashes), no fsync per device — for big fleets. */
  stateStore: 'disk' | 'memory'
  /** Light MQTT sessions of the whole fleet, or `null` for an MQTT.js client per device. */
  hub: LiteMqttHub | null
  /** Documents of in-memory devices shared by content (one copy of a package for the whole fleet). */
  blobs: SharedBlobs
  logger: Logger
  driverOptions: ConstructorParameters<typeof SimulatedDriver>[0]
}

/**
 * One simulated device of a fleet: its driver (which outlives agent restarts, like hardware), its
 * faults, and the agent process currently running on it (`null` while "crashed").
 */
export class FleetDevice {
  readonly id: string
  readonly faults: Faults
  readonly driver: SimulatedDriver
  readonly stateDir: string
  agent: Agent | null = null
  /** This device's local HTTP API (`/inference`, `/health`, `/metrics`), `null` for none. */
  localApi: { port: number; host: string } | null = null
  /** When the current agent connected first (ms since the fleet started), for connect-time figures. */
  connectedAfterMs: number | null = null
  inflight = 0
  credit = 0
  nextWindowAt = 0
  windowBusy = false
  readonly #password: string | undefined
  /** The broker's nodes in the order this device tries them. */
  readonly #brokerUrls: readonly string[]
  readonly #context: FleetDeviceContext
  readonly #memoryStore: StateStore | null

  constructor(id: string, password: string | undefined, index: number, context: FleetDeviceContext) {
    this.id = id
    this.#password = password
    const urls = context.brokerUrls
    const first = index % Math.max(urls.length, 1)
    this.#brokerUrls = [...urls.slice(first), ...urls.slice(0, first)]
    this.#context = context
    this.faults = new Faults()
    this.driver = new SimulatedDriver({ ...context.driverOptions, deviceId: id, faults: this.faults })
    this.stateDir = join(context.stateRoot, id)
    this.#memoryStore = context.stateStore === 'memory' ? context.blobs.store() : null
  }

  /** Start (or restart) the agent on this device. */
  async start(): Promise<Agent> {
    const c = this.#context
    const agent = await createAgent({
      deviceId: this.id,
      root: c.root,
      stateDir: this.stateDir,
      driver: this.driver,
      ...(c.hub === null
        ? {
            mqtt: {
              url: this.#brokerUrls,
              ...(this.#password === undefined ? {} : { password: this.#password }),
              reconnectMinMs: FLEET_RECONNECT.minMs,
              reconnectMaxMs: FLEET_RECONNECT.maxMs,
              refusedDelayMs: 10_000,
            },
          }
        : { transport: c.hub.transportFor(this.id, this.#password) }),
      publisherKeys: c.publisherKeys,
      fetcher: corruptingFetcher(createHttpFetcher(), this.faults),
      telemetryTimer: false,
      telemetryWindowMs: c.telemetryWindowMs,
      telemetryBufferOnDisk: c.bufferOnDisk,
      ...(this.#memoryStore === null ? {} : { stateStore: this.#memoryStore }),
      http: this.localApi,
      logger: c.logger,
    })
    this.agent = agent
    return agent
  }

  /** Stop the agent (its driver stays); `clean: false` as a crash would, so its next start reports `crashed`. */
  async stop(options: { clean?: boolean } = {}): Promise<void> {
    const agent = this.agent
    this.agent = null
    await agent?.close(options)
  }
}
