import { EventEmitter } from 'node:events'
import { DEFAULT_ROOT, PHASES, type Phase } from '@liquid-edge/protocol'
import { pino, type Logger } from 'pino'
import { loadPublisherKeys } from '@liquid-edge/package'
import type { AgentOptions } from '@liquid-edge/agent'
import { isFaulty, type FaultSettings, type FaultSettingsInput } from '../simulated/faults.js'
import type { HardwareProfileName } from '../simulated/profiles.js'
import type { SimulatedInference } from '../simulated/driver.js'
import { FleetDevice } from './fleet-device.js'
import { LinkProxy } from './link-proxy.js'
import { LiteMqttHub } from './lite-mqtt.js'
import { SharedBlobs } from './shared-blobs.js'
import { FleetScheduler } from './scheduler.js'

export interface SimulatedFleetOptions {
  /** Device ids, in order; see {@link fleetDeviceIds}. */
  ids: readonly string[]
  /** MQTT passwords by device id (brokers that require authentication). */
  passwords?: ReadonlyMap<string, string>
  /**
   * The broker, or the nodes of one clustered broker: device `i` tries them from node `i mod n` on,
   * so a fleet spreads over the nodes and each device fails over to the next node when its own dies.
   * Lite sessions use the first node only.
   */
  brokerUrl: string | readonly string[]
  /** @defaultValue 'lln/v1' */
  root?: string
  profile: HardwareProfileName
  /** One directory per device is created inside. */
  stateRoot: string
  publisherKeys: AgentOptions['publisherKeys']
  /** @defaultValue 1 */
  seed?: number
  /** Where outputs come from, see {@link SimulatedDriverOptions.inference}. @defaultValue 'real' */
  inference?: SimulatedInference
  /** Inferences per second per device (the workload telemetry counts). @defaultValue 5 */
  ratePerS?: number
  /** @defaultValue 1000 */
  telemetryWindowMs?: number
  /** Offline telemetry buffer on disk. @defaultValue true */
  bufferOnDisk?: boolean
  /** Agent state on disk (atomic, fsynced: realistic) or in memory (10,000 devices start faster). @defaultValue 'disk' */
  stateStore?: 'disk' | 'memory'
  /** The first device's local HTTP API (`/inference`, `/health`, `/metrics`), as an edge node serves it to its applications. */
  localApi?: { port: number; host?: string }
  /** Faults every device starts with. */
  faults?: FaultSettingsInput
  /**
   * MQTT sessions: `mqtt.js`, an MQTT.js client per device (what the `liquid-agent` executable runs), or
   * `lite`, light sessions of one {@link LiteMqttHub} (a few KiB per device, paced connects, links cut
   * without a proxy) for fleets of tens of thousands. @defaultValue 'mqtt.js'
   */
  sessions?: 'mqtt.js' | 'lite'
  /** `lite` sessions: new connections per second. @defaultValue 500 */
  connectsPerS?: number
  /** Route `mqtt.js` sessions through a {@link LinkProxy} so links can be cut (flapping, crashes). @defaultValue true */
  linkProxy?: boolean
  /** Agents started at the same time. @defaultValue 64 */
  startConcurrency?: number
  /** How long a crashed device stays down before its agent restarts. @defaultValue 1000 */
  crashRestartMs?: number
  /** Called as agents start, for a progress line. */
  onStarted?: (started: number, total: number) => void
  logger?: Logger
}

/** The fleet at a glance. */
export interface FleetStats {
  count: number
  online: number
  running: number
  phases: Partial<Record<Phase, number>>
  /** Telemetry windows, inferences and inference errors per second since the previous call. */
  telemetryPerS: number
  inferencesPerS: number
  errorsPerS: number
  faulty: number
}

export interface FleetEvents {
  deviceCrashed: [id: string]
  deviceRestarted: [id: string]
  error: [err: Error]
}

/** Ids `prefix-0001` … for a fleet of `count`. */
export function fleetDeviceIds(count: number, prefix = 'sim'): string[] {
  const width = Math.max(4, String(count).length)
  return Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(width, '0')}`)
}

/** Which devices a fault change applies to: ids, the first `count`, or a `percent` (deterministic). */
export interface DeviceSelection {
  ids?: string[]
  count?: number
  percent?: number
}

/**
 * Many simulated devices in one process, each a real agent with its own MQTT client, identity and
 * state directory. One scheduler drives every device's workload and telemetry windows.
 */
export class SimulatedFleet extends EventEmitter<FleetEvents> {
  readonly devices: FleetDevice[]
  readonly startedAt = performance.now()
  readonly #byId: Map<string, FleetDevice>
  readonly #options: SimulatedFleetOptions
  /** One relay per broker node (none when links are direct). */
  readonly #proxies: readonly LinkProxy[]
  readonly #hub: LiteMqttHub | null
  readonly blobs = new SharedBlobs()
  readonly #scheduler: FleetScheduler
  readonly #flapTimers = new Map<string, NodeJS.Timeout>()
  readonly #restartTimers = new Set<NodeJS.Timeout>()
  #closed: Promise<void> | undefined
  #counters = { windows: 0, inferences: 0, errors: 0, at: performance.now() }

  private constructor(options: SimulatedFleetOptions, proxies: readonly LinkProxy[]) {
    super()
    this.#options = options
    this.#proxies = proxies
    const logger = options.logger ?? pino({ level: 'silent' })
    const root = options.root ?? DEFAULT_ROOT
    this.#hub =
      options.sessions === 'lite'
        ? new LiteMqttHub({
            url: urlsOf(options.brokerUrl)[0] ?? '',
            root,
            ...(options.connectsPerS === undefined ? {} : { connectsPerS: options.connectsPerS }),
          })
        : null
    const context = {
      brokerUrls: proxies.length > 0 ? proxies.map((p) => p.url) : urlsOf(options.brokerUrl),
      root,
      hub: this.#hub,
      blobs: this.blobs,
      stateRoot: options.stateRoot,
      // Parsed once: every agent of the fleet trusts the same keys.
      publisherKeys: loadPublisherKeys(options.publisherKeys),
      telemetryWindowMs: options.telemetryWindowMs ?? 1000,
      bufferOnDisk: options.bufferOnDisk ?? true,
      stateStore: options.stateStore ?? 'disk',
      logger,
      driverOptions: { profile: options.profile, seed: options.seed ?? 1, inference: options.inference ?? 'real' },
    }
    this.devices = options.ids.map((id, i) => new FleetDevice(id, options.passwords?.get(id), i, context))
    this.#byId = new Map(this.devices.map((d) => [d.id, d]))
    const first = this.devices[0]
    if (first !== undefined && options.localApi !== undefined) first.localApi = { host: '127.0.0.1', ...options.localApi }
    for (const d of this.devices) {
      d.faults.on('changed', (s) => {
        this.#onFaults(d, s)
      })
      if (options.faults !== undefined) d.faults.set(options.faults)
    }
    this.#scheduler = new FleetScheduler(this.devices, {
      ratePerS: options.ratePerS ?? 5,
      windowMs: context.telemetryWindowMs,
      onWindow: () => this.#counters.windows++,
      onInference: (ok) => {
        this.#counters.inferences++
        if (!ok) this.#counters.errors++
      },
    })
  }

  static async start(options: SimulatedFleetOptions): Promise<SimulatedFleet> {
    const direct = options.linkProxy === false || options.sessions === 'lite'
    const proxies = direct ? [] : await Promise.all(urlsOf(options.brokerUrl).map((url) => LinkProxy.start(url)))
    const fleet = new SimulatedFleet(options, proxies)
    let next = 0
    let started = 0
    const worker = async () => {
      for (let d = fleet.devices[next++]; d !== undefined; d = fleet.devices[next++]) {
        await fleet.#startDevice(d)
        options.onStarted?.(++started, fleet.devices.length)
      }
    }
    await Promise.all(Array.from({ length: options.startConcurrency ?? 64 }, worker))
    fleet.#scheduler.start()
    return fleet
  }

  /** The first device's local HTTP API URL while its agent runs (see {@link SimulatedFleetOptions.localApi}), else `null`. */
  get localApiUrl(): string | null {
    return this.devices[0]?.agent?.httpUrl ?? null
  }

  device(id: string): FleetDevice | undefined {
    return this.#byId.get(id)
  }

  async #startDevice(d: FleetDevice): Promise<void> {
    const agent = await d.start()
    agent.on('error', (err) => this.emit('error', err))
    agent.once('connected', () => {
      d.connectedAfterMs ??= performance.now() - this.startedAt
    })
  }

  /** Change faults on a selection of devices; returns the ids changed. */
  setFaults(selection: DeviceSelection, change: FaultSettingsInput): string[] {
    const chosen = this.select(selection)
    for (const d of chosen) d.faults.set(change)
    return chosen.map((d) => d.id)
  }

  select(selection: DeviceSelection): FleetDevice[] {
    if (selection.ids !== undefined) return selection.ids.map((id) => this.#byId.get(id)).filter((d): d is FleetDevice => d !== undefined)
    if (selection.count !== undefined) return this.devices.slice(0, selection.count)
    if (selection.percent !== undefined) return this.devices.slice(0, Math.round((this.devices.length * selection.percent) / 100))
    return this.devices
  }

  #onFaults(d: FleetDevice, s: FaultSettings): void {
    clearInterval(this.#flapTimers.get(d.id))
    this.#flapTimers.delete(d.id)
    if (s.flappingPeriodMs > 0 && (this.#proxies.length > 0 || this.#hub !== null)) {
      this.#flapTimers.set(
        d.id,
        setInterval(() => {
          this.#cut(d.id)
        }, s.flappingPeriodMs),
      )
    }
    if (s.crash && d.agent !== null) void this.#crash(d)
  }

  /** Kill the device's agent abruptly (link cut first, so the broker publishes its Last Will), then restart it. */
  #cut(id: string): void {
    for (const proxy of this.#proxies) proxy.drop(id)
    this.#hub?.drop(id)
  }

  async #crash(d: FleetDevice): Promise<void> {
    this.#cut(d.id)
    await d.stop({ clean: false }).catch((err: unknown) => this.emit('error', err instanceof Error ? err : new Error(String(err))))
    await d.driver.powerCycle() // the restarted agent loads its slots again, as after a real reboot
    this.emit('deviceCrashed', d.id)
    const timer = setTimeout(() => {
      this.#restartTimers.delete(timer)
      if (this.#closed !== undefined) return
      d.faults.set({ crash: false })
      this.#startDevice(d).then(
        () => this.emit('deviceRestarted', d.id),
        (err: unknown) => this.emit('error', err instanceof Error ? err : new Error(String(err))),
      )
    }, this.#options.crashRestartMs ?? 1000)
    this.#restartTimers.add(timer)
  }

  stats(): FleetStats {
    const phases: Partial<Record<Phase, number>> = {}
    let online = 0
    let running = 0
    let faulty = 0
    for (const d of this.devices) {
      if (isFaulty(d.faults.settings)) faulty++
      if (d.agent === null) continue
      running++
      if (d.agent.connected) online++
      const phase = d.agent.state.phase
      phases[phase] = (phases[phase] ?? 0) + 1
    }
    const now = performance.now()
    const seconds = Math.max((now - this.#counters.at) / 1000, 1e-3)
    const c = this.#counters
    const rates = { telemetryPerS: c.windows / seconds, inferencesPerS: c.inferences / seconds, errorsPerS: c.errors / seconds }
    this.#counters = { windows: 0, inferences: 0, errors: 0, at: now }
    return { count: this.devices.length, online, running, phases: sortPhases(phases), ...rates, faulty }
  }

  /** Stop every agent and driver. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#scheduler.stop()
      for (const t of this.#flapTimers.values()) clearInterval(t)
      for (const t of this.#restartTimers) clearTimeout(t)
      let next = 0
      const worker = async () => {
        for (let d = this.devices[next++]; d !== undefined; d = this.devices[next++]) {
          await d.stop().catch(() => undefined)
          await d.driver.close()
        }
      }
      await Promise.all(Array.from({ length: 64 }, worker))
      await this.#hub?.close()
      await Promise.all(this.#proxies.map((p) => p.close()))
    })()
    return this.#closed
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}

function urlsOf(url: string | readonly string[]): readonly string[] {
  return typeof url === 'string' ? [url] : url
}

function sortPhases(phases: Partial<Record<Phase, number>>): Partial<Record<Phase, number>> {
  return Object.fromEntries(PHASES.filter((p) => phases[p] !== undefined).map((p) => [p, phases[p]]))
}

/** Start a simulated fleet; resolves when every agent has started (connections continue in the background). */
export function createSimulatedFleet(options: SimulatedFleetOptions): Promise<SimulatedFleet> {
  return SimulatedFleet.start(options)
}
