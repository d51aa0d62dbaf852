import { EventEmitter } from 'node:events'
import type { KeyObject } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { setTimeout as delay } from 'node:timers/promises'
import { join } from 'node:path'
import { loadPublisherKeys } from '@liquid-edge/package'
import {
  FleetError,
  MIN_WINDOW_MS,
  createCodec,
  deviceMessage,
  type Codec,
  type DeviceEventBody,
  type ModelId,
  type PackageManifest,
  type ReplyBody,
  type TelemetryBody,
} from '@liquid-edge/protocol'
import { pino } from 'pino'
import { CommandRunner, readableCommandId } from './commands/command-runner.js'
import { commandHandler } from './commands/handlers.js'
import { AgentMetrics } from './http/metrics.js'
import { startLocalHttp, type LocalHttpServer } from './http/http-server.js'
import type { AgentInternals } from './internals.js'
import { checkInput } from './input.js'
import { AgentLog } from './log/agent-log.js'
import type { AgentOptions, AgentSettings } from './options.js'
import {
  systemClock,
  type ArtifactFetcher,
  type Clock,
  type DeviceDriver,
  type InferenceResult,
  type SensorReadings,
  type SlotName,
  type StateStore,
} from './ports.js'
import { initialState, loadState, reportedBody, sameReport, type AgentStateView } from './state/agent-state.js'
import { OfflineBuffer } from './telemetry/offline-buffer.js'
import { TelemetryPublisher } from './telemetry/telemetry-publisher.js'
import { TelemetryWindow, type OutsideSamples } from './telemetry/window.js'
import type { AgentTransport, InboundKind } from './transport/transport.js'
import { createHttpFetcher } from './update/http-fetcher.js'
import { Updater } from './update/updater.js'

import type { AgentEvents } from './events.js'

export type { AgentEvents }

/**
 * The device agent: one device's MQTT session, desired-state reconciler with A/B slots and
 * trials, commands, telemetry and local HTTP API. Create with {@link createAgent}.
 */
export class Agent extends EventEmitter<AgentEvents> implements AgentInternals, AsyncDisposable {
  readonly deviceId: string
  readonly driver: DeviceDriver
  readonly clock: Clock
  readonly log: AgentLog
  readonly store: StateStore
  readonly fetcher: ArtifactFetcher
  readonly publisherKeys: readonly KeyObject[]
  readonly stateDir: string
  readonly agentVersion: string
  readonly startedAt: number
  private m: AgentMetrics | null = null
  lastWindow: TelemetryBody | null = null
  private readonly codec: Codec
  /** The one owner of slot and trial state (the lifecycle reducer and its effects). */
  private readonly updater: Updater
  /** The next telemetry sequence number; the state persists how far it is reserved. */
  private seq = 0
  private reportedFrom: AgentStateView | null = null
  private view: { base: AgentStateView; seq: number; state: AgentStateView } | null = null
  private readonly commands: CommandRunner
  private readonly window: TelemetryWindow
  private telemetry!: TelemetryPublisher
  private http: LocalHttpServer | null = null
  private windowTimer: unknown = null
  private windowRun: Promise<unknown> = Promise.resolve()
  private pendingEvents: DeviceEventBody[] = []
  /** Application inferences in flight, and measurements waiting for them to finish. */
  private inflight = 0
  private idleWaiters: (() => void)[] = []
  private closing: Promise<void> | null = null

  /** @internal use {@link createAgent} */
  constructor(
    readonly settings: AgentSettings,
    options: AgentOptions,
    store: StateStore,
    readonly transport: AgentTransport,
  ) {
    super()
    this.deviceId = settings.deviceId
    this.driver = options.driver
    this.clock = options.clock ?? systemClock
    this.log = new AgentLog(
      (options.logger ?? pino({ level: 'silent' })).child({ component: 'agent', deviceId: this.deviceId }),
      () => this.clock.now(),
      settings.logLines,
    )
    this.store = store
    this.fetcher = options.fetcher ?? createHttpFetcher(options.download)
    this.publisherKeys = loadPublisherKeys(options.publisherKeys)
    this.stateDir = settings.stateDir
    this.agentVersion = settings.agentVersion
    this.startedAt = this.clock.now()
    this.codec = createCodec({ root: settings.root })
    this.updater = new Updater(
      {
        ai: this,
        stored: (state, progress) => {
          this.stored(state, progress)
        },
        phaseChanged: (phase, error) => {
          this.log.write(error === null ? 'info' : 'warn', 'phase changed', { phase, ...(error === null ? {} : { code: error.code }) })
          this.emit('phaseChanged', phase, error)
        },
        trialEnded: (outcome) => {
          if (!outcome.confirmed) this.m?.reverts.inc()
          this.emit('trialEnded', outcome)
        },
      },
      initialState(),
    )
    this.commands = new CommandRunner(this, commandHandler(this, this.updater), (body) => this.sendReply(body))
    this.window = new TelemetryWindow(this.clock.now())
  }

  /**
   * Prometheus metrics in the agent's own registry. Created on first use (or with the local HTTP
   * API), so that fleets of thousands of agents in one process do not pay for them.
   */
  get metrics(): AgentMetrics {
    if (this.m === null) {
      this.m = new AgentMetrics()
      this.m.setPhase(this.state.phase)
      this.m.connected.set(this.transport.connected ? 1 : 0)
    }
    return this.m
  }

  /** The URL of the local HTTP API, when enabled. */
  get httpUrl(): string | null {
    return this.http?.url ?? null
  }

  get connected(): boolean {
    return this.transport.connected
  }

  /**
   * The persisted state (slots, trial, phase), read only: it changes through the update lifecycle.
   * `telemetrySeq` is the next telemetry sequence number.
   */
  get state(): AgentStateView {
    const base = this.updater.state
    if (base.telemetrySeq === this.seq) return base
    const v = this.view
    if (v?.base === base && v.seq === this.seq) return v.state
    const state = { ...base, telemetrySeq: this.seq }
    this.view = { base, seq: this.seq, state }
    return state
  }

  /** Manifests of the slots loaded in the driver. */
  get manifests(): Readonly<Record<SlotName, PackageManifest | null>> {
    return this.updater.manifests
  }

  /** The active model, or `null`. */
  get model(): ModelId | null {
    const s = this.updater.state
    const rec = s.active === null ? null : s.slots[s.active]
    return rec === null ? null : { name: rec.name, version: rec.version }
  }

  /** Telemetry windows waiting in the offline buffer. */
  get bufferedWindows(): number {
    return this.telemetry.buffered
  }

  /** @internal start-up: recover state, restore slots, start the transport and timers. */
  async start(): Promise<void> {
    await mkdir(this.stateDir, { recursive: true })
    const persisted = (await loadState(this.store)) ?? initialState()
    const crashed = persisted.running
    const pending = persisted.pending
    this.seq = persisted.telemetrySeq
    await this.commands.load()
    const buffer = await OfflineBuffer.open(
      this.settings.telemetryBufferOnDisk ? join(this.stateDir, 'telemetry-buffer.jsonl') : null,
      this.settings.telemetryBufferWindows,
    )
    this.telemetry = new TelemetryPublisher(
      buffer,
      (body, qos) => this.publish('telemetry', deviceMessage('telemetry', this.deviceId, body, { ts: this.clock.now() }), qos),
      () => this.transport.connected,
      (err) => {
        this.log.write('warn', 'telemetry drain interrupted', { err })
      },
    )
    // An interrupted trial reverts before the slots are restored: its candidate is never loaded again.
    await this.updater.boot(persisted)
    const model = this.model === null ? {} : { model: this.model }
    if (crashed) {
      this.log.write('warn', 'the previous run did not shut down cleanly')
      this.event({ event: 'crashed', ...model })
    }
    this.event({ event: 'started', ...model })
    if (this.settings.http !== null) {
      this.metrics.setPhase(this.state.phase)
      this.http = await startLocalHttp(this, this.settings.http.port, this.settings.http.host)
    }
    if (this.settings.telemetryTimer) this.armWindow()
    await this.transport.start({
      message: (kind, payload) => {
        this.onMessage(kind, payload)
      },
      connected: () => {
        this.onConnected()
      },
      disconnected: () => {
        this.m?.connected.set(0)
        this.log.write('info', 'disconnected')
        this.emit('disconnected')
      },
      nextSession: async () => {
        await this.updater.send({ type: 'session' })
        return this.updater.state.session
      },
      status: (online, session, extra) =>
        this.codec.encode(
          deviceMessage('status', this.deviceId, {
            online,
            session,
            agentVersion: this.agentVersion,
            hardware: this.driver.hardware,
            ...(extra?.gateway === undefined ? {} : { gateway: extra.gateway }),
          }),
        ),
    })
    if (pending !== null) this.updater.desired(pending)
  }

  private onConnected(): void {
    this.m?.connected.set(1)
    this.log.write('info', 'connected', { session: this.updater.state.session })
    void this.publishReported().catch(() => undefined)
    const events = this.pendingEvents
    this.pendingEvents = []
    for (const e of events) this.event(e)
    this.telemetry.drain()
    this.emit('connected')
  }

  private onMessage(kind: InboundKind, payload: Uint8Array): void {
    const topic = kind === 'desired' ? this.codec.topics.desired(this.deviceId) : this.codec.topics.cmd(this.deviceId)
    if (payload.byteLength === 0) return // a cleared retained message
    const decoded = this.codec.decode(topic, payload)
    if (!decoded.ok) {
      this.m?.refused.inc({ code: decoded.error.code })
      this.log.write('warn', 'message refused', { kind, code: decoded.error.code, reason: decoded.error.message })
      this.emit('messageRefused', { code: decoded.error.code, message: decoded.error.message })
      const commandId = kind === 'cmd' ? readableCommandId(payload, this.deviceId) : null
      if (commandId !== null) void this.commands.refuse(commandId, decoded.error.code, decoded.error.message)
      return
    }
    const message = decoded.message
    // The newest state's policy sets the log's verbosity (also the one re-delivered after a restart).
    if (message.type === 'desired') this.updater.desired(this.log.debugFor(message.body, this.updater.state.generation))
    else if (message.type === 'command') {
      this.commands.handle(message).catch((err: unknown) => {
        this.log.write('error', 'command handling failed', { commandId: message.id, err })
      })
    }
  }

  // ---- AgentInternals -------------------------------------------------------------------

  event(body: DeviceEventBody): void {
    if (!this.transport.connected) {
      if (this.pendingEvents.length < 64) this.pendingEvents.push(body)
      return
    }
    void this.publish('events', deviceMessage('event', this.deviceId, body, { ts: this.clock.now() })).catch(() => {
      if (this.pendingEvents.length < 64) this.pendingEvents.push(body)
    })
  }

  probe(input: Float32Array, slot: SlotName): Promise<InferenceResult> {
    checkInput(input, this.manifests[slot])
    return this.driver.infer(input, slot)
  }

  busy(): boolean {
    return this.updater.busy
  }

  whenIdle(): Promise<void> {
    if (this.inflight === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  recordEvaluation(samples: number, correct: number): void {
    this.window.recordEvaluation(samples, correct)
  }

  async readSensors(): Promise<SensorReadings | null> {
    const readings = await this.driver.readSensors().catch(() => null)
    if (readings?.powerMw != null) this.window.recordMeter(readings.powerMw, this.clock.now())
    return readings
  }

  // ---- public API -----------------------------------------------------------------------

  /**
   * Run one inference on the active model, counted in telemetry, the trial and `/metrics`.
   * @throws {FleetError} `AGENT_NO_MODEL`, `AGENT_INPUT_SHAPE`, or the driver's error
   */
  async infer(input: Float32Array): Promise<InferenceResult & { modelVersion: string }> {
    const slot = this.updater.state.active
    const manifest = slot === null ? null : this.updater.manifests[slot]
    if (slot === null || manifest === null) throw new FleetError('AGENT_NO_MODEL', 'no model is active on this device')
    checkInput(input, manifest)
    let result: InferenceResult
    this.inflight++
    try {
      result = await this.driver.infer(input, slot)
    } catch (err) {
      this.window.record(null, null)
      this.updater.trial.record(null)
      this.m?.inferenceError.inc()
      this.log.write('debug', 'inference failed', { model: `${manifest.name}@${manifest.version}`, err })
      throw err
    } finally {
      if (--this.inflight === 0) for (const wake of this.idleWaiters.splice(0)) wake()
    }
    this.window.record(result.latencyMs, result.energyMj)
    this.updater.trial.record(result.latencyMs)
    this.m?.inferenceOk.inc()
    this.m?.latency.observe(result.latencyMs / 1000)
    return { ...result, modelVersion: manifest.version }
  }

  /**
   * Count inferences the device ran outside the agent (an MCU's own loop behind a gateway) in the
   * current telemetry window and in a running trial, as if the agent had run them.
   */
  recordSamples(samples: OutsideSamples): void {
    if (samples.attempts <= 0) return
    this.window.recordOutside(samples)
    this.updater.trial.recordOutside(samples)
  }

  health(): { status: 'ok' | 'degraded'; [key: string]: unknown } {
    const model = this.model
    return {
      status: model === null ? 'degraded' : 'ok',
      deviceId: this.deviceId,
      model,
      phase: this.updater.state.phase,
      ...(this.updater.state.reason === null ? {} : { reason: this.updater.state.reason }),
      generation: this.updater.state.generation,
      connected: this.transport.connected,
      bufferedWindows: this.telemetry.buffered,
      uptimeMs: this.clock.now() - this.startedAt,
    }
  }

  /** Close the current telemetry window now and send (or buffer) it. Used by fleets that drive windows themselves. */
  async closeWindow(): Promise<TelemetryBody> {
    const sensors = await this.readSensors()
    // Reserve the next 60 numbers (persisted) before using one, so that a crash never reuses a sequence number.
    if (this.seq >= this.updater.state.telemetrySeq) await this.updater.send({ type: 'reserve-seq', upTo: this.seq + 60 })
    const seq = this.seq++
    // A late timer under load may close a window just after the previous one: wait out the
    // contract's shortest window (a few ms at most) rather than send one every receiver refuses.
    const early = MIN_WINDOW_MS - (this.clock.now() - this.window.start)
    if (early > 0) await delay(early)
    const body = this.window.close(this.clock.now(), seq, this.model, sensors, this.driver.hardware)
    this.lastWindow = body
    this.log.window(body)
    this.updater.trial.onWindow(body)
    await this.telemetry.send(body)
    this.m?.buffered.set(this.telemetry.buffered)
    this.emit('windowClosed', body)
    return body
  }

  /** Resolves when the current update and the telemetry drain have settled (for tests and orderly shutdown). */
  async settled(): Promise<void> {
    await this.updater.settled()
    await this.telemetry.settled()
  }

  /**
   * Stop everything: timers, HTTP, the MQTT session (status offline). Idempotent. Does not close the driver.
   * `clean: false` stops as a crash would, for simulators: the state stays marked running, so the
   * next start on it reports `crashed`.
   */
  close(options: { clean?: boolean } = {}): Promise<void> {
    this.closing ??= (async () => {
      this.clock.clearTimeout(this.windowTimer)
      await this.windowRun
      this.updater.stop()
      await this.updater.settled().catch(() => undefined)
      await this.http?.close()
      await this.transport.close()
      await this.telemetry.settled()
      if (options.clean !== false) {
        await this.updater.send({ type: 'shutdown', telemetrySeq: this.seq }).catch((err: unknown) => {
          this.log.write('warn', 'could not record the clean shutdown', { err })
        })
      }
    })()
    return this.closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  // ---- internals ------------------------------------------------------------------------

  private armWindow(): void {
    if (this.closing !== null) return
    this.windowTimer = this.clock.setTimeout(() => {
      this.windowRun = this.closeWindow()
        .catch((err: unknown) => {
          this.log.write('warn', 'telemetry window failed', { err })
        })
        .finally(() => {
          this.armWindow()
        })
    }, this.settings.telemetryWindowMs)
  }

  private async publish(
    kind: 'reported' | 'reply' | 'telemetry' | 'events',
    message: Parameters<Codec['encode']>[0],
    qos?: 0 | 1,
  ): Promise<void> {
    const bytes = this.codec.encode(message)
    await this.transport.publish(kind, bytes, qos === undefined ? {} : { qos })
  }

  /** A new state was persisted: metrics first (whoever reads `reported` may scrape /metrics next), then `reported`. */
  private stored(state: AgentStateView, progress?: number): void {
    const last = this.reportedFrom
    this.reportedFrom = state
    this.m?.setPhase(state.phase)
    // A state that differs only in what `reported` does not show (session, sequence reservation) is not published again.
    if (progress === undefined && last !== null && sameReport(last, state)) return
    void this.publishReported(state, progress).catch(() => undefined)
  }

  private async publishReported(state: AgentStateView = this.updater.state, progress?: number): Promise<void> {
    if (!this.transport.connected) return
    const body = reportedBody(state, {
      agentVersion: this.agentVersion,
      hardware: this.driver.hardware,
      ...(progress === undefined ? {} : { progress }),
    })
    return this.publish('reported', deviceMessage('reported', this.deviceId, body, { ts: this.clock.now() }))
  }

  private async sendReply(body: ReplyBody): Promise<void> {
    await this.publish('reply', deviceMessage('reply', this.deviceId, body, { ts: this.clock.now() }))
    this.emit('commandAnswered', body)
  }
}
