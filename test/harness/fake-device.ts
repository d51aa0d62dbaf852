import { createHash } from 'node:crypto'
import mqtt, { type MqttClient } from 'mqtt'
import {
  DELIVERY,
  createCodec,
  deviceMessage,
  type Codec,
  type Command,
  type CommandResult,
  type Desired,
  type ErrorPayload,
  type Phase,
  type Slot,
} from '@liquid-edge/protocol'

/** How a fake device answers a desired state. */
export type FakeBehaviour =
  /** Walk downloading → verifying → staging → trial → active (or → staged for `mode: 'stage'`). */
  | 'ok'
  /** Start downloading, then report `failed` with `PACKAGE_SHA256_MISMATCH`. */
  | 'fail'
  /** Go through trial, then revert locally (`reverted`, `AGENT_TRIAL_ERROR_RATE`). */
  | 'revert'
  /** Read the desired state and never answer. */
  | 'silent'
  /** Install the model and stay in trial (never confirm): the rollout keeps waiting for it. */
  | 'trial'

export interface FakeDeviceOptions {
  url: string
  root: string
  deviceId: string
  hardware?: string
  behaviour?: FakeBehaviour
  /** The model active at start (slot a). */
  initialModel?: Slot['model']
  /** Fetch the artifact url and check its sha256 (as a real agent would). @defaultValue false */
  download?: boolean
  username?: string
  password?: string
  /** First session number. @defaultValue 1 */
  session?: number
}

type SlotModel = Slot['model']

/**
 * A protocol-conformant fake device for tests: an MQTT 3.1.1 client that keeps a retained status
 * (with a session number and a Last Will), reports its update phases for every newer desired
 * generation, and answers ping/rollback/switch/decommission/status commands on its reply topic.
 */
export class FakeDevice {
  readonly id: string
  readonly codec: Codec
  behaviour: FakeBehaviour
  /** Every desired generation this device received, in order (duplicates included). */
  readonly desiredSeen: number[] = []
  /** Every command it received. */
  readonly commandsSeen: Command[] = []
  /** Non-empty messages received on its topics (valid or not). */
  received = 0
  /** Artifacts it downloaded (sha256 of each). */
  readonly downloads: string[] = []
  phase: Phase = 'idle'
  generation = 0
  rolloutId: string | null = null
  session: number
  active: SlotModel | null
  previous: SlotModel | null = null
  staged: SlotModel | null = null
  private client: MqttClient | null = null
  private error: ErrorPayload | null = null
  /** The reason of the desired state that unloaded the model (reported while it holds). */
  private reason: ErrorPayload | null = null
  private chain: Promise<void> = Promise.resolve()

  constructor(private readonly options: FakeDeviceOptions) {
    this.id = options.deviceId
    this.codec = createCodec({ root: options.root })
    this.behaviour = options.behaviour ?? 'ok'
    this.session = (options.session ?? 1) - 1
    this.active = options.initialModel ?? null
  }

  /** Connect (a new session), publish status online and the reported state, subscribe. */
  async start(): Promise<this> {
    this.session++
    const t = this.codec.topics
    const will = this.codec.encode(deviceMessage('status', this.id, { online: false, session: this.session }))
    const client = await mqtt.connectAsync(this.options.url, {
      clientId: `${this.id}-${this.session}-${Math.random().toString(36).slice(2, 6)}`,
      reconnectPeriod: 0,
      ...(this.options.username === undefined ? {} : { username: this.options.username }),
      ...(this.options.password === undefined ? {} : { password: this.options.password }),
      will: { topic: t.status(this.id), payload: Buffer.from(will), qos: 1, retain: true },
    })
    this.client = client
    client.on('message', (topic, payload) => {
      this.chain = this.chain.then(() => this.onMessage(topic, payload)).catch(() => undefined)
    })
    await this.publish('status', { online: true, session: this.session, hardware: this.hardware, agentVersion: 'fake-1' })
    await this.report()
    await client.subscribeAsync([t.desired(this.id), t.cmd(this.id)], { qos: 1 })
    return this
  }

  get hardware(): string {
    return this.options.hardware ?? 'fake-hw'
  }

  get connected(): boolean {
    return this.client?.connected ?? false
  }

  /** Drop the connection without DISCONNECT: the broker publishes the Last Will (offline). */
  async crash(): Promise<void> {
    const c = this.client
    this.client = null
    if (c === null) return
    c.stream.destroy()
    await c.endAsync(true)
  }

  /** Disconnect cleanly after publishing offline. */
  async stop(): Promise<void> {
    const c = this.client
    if (c === null) return
    await this.chain
    if (c.connected) await this.publish('status', { online: false, session: this.session })
    this.client = null
    await c.endAsync()
  }

  private async publish(kind: 'status' | 'reported' | 'reply', body: unknown): Promise<void> {
    const c = this.client
    if (c === null) return
    const type = kind === 'status' ? 'status' : kind === 'reported' ? 'reported' : 'reply'
    const bytes = this.codec.encode(deviceMessage(type, this.id, body as never))
    const { qos, retain } = DELIVERY[kind]
    await c.publishAsync(this.codec.topics.device(this.id, kind), Buffer.from(bytes), { qos, retain })
  }

  slots(): Slot[] {
    const out: Slot[] = []
    if (this.active !== null) out.push({ slot: 'a', model: this.active, role: this.phase === 'trial' ? 'trial' : 'active' })
    const other = this.staged ?? this.previous
    if (other !== null) out.push({ slot: 'b', model: other, role: this.staged === null ? 'previous' : 'staged' })
    return out
  }

  private async report(progress?: number): Promise<void> {
    await this.publish('reported', {
      generation: this.generation,
      rolloutId: this.rolloutId,
      phase: this.phase,
      slots: this.slots(),
      error: this.error,
      reason: this.reason,
      agentVersion: 'fake-1',
      hardware: this.hardware,
      ...(progress === undefined ? {} : { progress }),
    })
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    if (payload.length === 0) return
    this.received++
    const r = this.codec.decode(topic, payload)
    if (!r.ok) return
    if (r.message.type === 'desired') await this.onDesired(r.message)
    else if (r.message.type === 'command') await this.onCommand(r.message)
  }

  private async setPhase(phase: Phase, error: ErrorPayload | null = null, progress?: number): Promise<void> {
    this.phase = phase
    this.error = error
    await this.report(progress)
  }

  private async onDesired(msg: Desired): Promise<void> {
    const d = msg.body
    this.desiredSeen.push(d.generation)
    if (d.generation <= this.generation) return
    if (d.expiresAt !== null && d.expiresAt < Date.now()) return
    if (this.behaviour === 'silent') return
    this.generation = d.generation
    this.rolloutId = d.rolloutId
    this.reason = null
    if (d.model === null) {
      // No model: unload everything and idle with the controller's reason, as the agent does.
      this.active = null
      this.previous = null
      this.staged = null
      this.reason = d.reason
      return this.setPhase('idle')
    }
    const model: SlotModel = { name: d.model.name, version: d.model.version, sha256: d.model.sha256 }
    if (this.active?.sha256 === model.sha256) return this.setPhase('active')
    const resident = this.previous?.sha256 === model.sha256 || this.staged?.sha256 === model.sha256
    if (!resident) {
      await this.setPhase('downloading', null, 0)
      if (this.behaviour === 'fail') {
        return this.setPhase('failed', { code: 'PACKAGE_SHA256_MISMATCH', message: 'fake mismatch', retryable: false })
      }
      if (this.options.download === true && !(await this.fetchArtifact(d.model.url, d.model.sha256))) {
        return this.setPhase('failed', { code: 'AGENT_DOWNLOAD_FAILED', message: 'download failed', retryable: true })
      }
      await this.setPhase('verifying')
    }
    await this.setPhase('staging')
    if (d.mode === 'stage') {
      this.staged = model
      return this.setPhase('staged')
    }
    const old = this.active
    this.active = model
    this.staged = null
    this.previous = old
    await this.setPhase('trial')
    if (this.behaviour === 'trial') return
    if (this.behaviour === 'revert') {
      this.active = old
      this.previous = model
      return this.setPhase('reverted', { code: 'AGENT_TRIAL_ERROR_RATE', message: 'fake trial failure', retryable: false })
    }
    await this.setPhase('active')
  }

  /** Download and check the artifact, retrying transient failures as a real agent would. */
  private async fetchArtifact(url: string, sha256: string, attempts = 4): Promise<boolean> {
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const res = await fetch(url)
        if (res.ok) {
          const bytes = Buffer.from(await res.arrayBuffer())
          const ok = createHash('sha256').update(bytes).digest('hex') === sha256
          if (ok) this.downloads.push(sha256)
          return ok
        }
        if (res.status < 500) return false
      } catch {
        // connection refused or reset under load: retry
      }
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt))
    }
    return false
  }

  private async onCommand(cmd: Command): Promise<void> {
    this.commandsSeen.push(cmd)
    if (this.behaviour === 'silent') return
    const body = cmd.body
    if (body.expiresAt < Date.now()) {
      return this.replyError(cmd.id, 'AGENT_COMMAND_EXPIRED', 'expired')
    }
    const result = await this.runCommand(body)
    if ('code' in result) return this.replyError(cmd.id, result.code, result.message)
    await this.publish('reply', { commandId: cmd.id, ok: true, result })
  }

  private async runCommand(body: Command['body']): Promise<CommandResult | { code: string; message: string }> {
    switch (body.kind) {
      case 'ping':
        return { kind: 'ping', uptimeMs: 1, agentVersion: 'fake-1' }
      case 'rollback': {
        if (this.previous === null || this.active === null) return { code: 'AGENT_NO_PREVIOUS_MODEL', message: 'no previous model' }
        const changed = body.to.to === 'previous' || this.active.version !== body.to.version
        const inTrial = this.phase === 'trial'
        if (changed) [this.active, this.previous] = [this.previous, this.active]
        // As the agent: a rollback during a trial ends it as a local revert.
        if (changed && inTrial) await this.setPhase('reverted', { code: 'AGENT_TRIAL_INTERRUPTED', message: 'rollback', retryable: false })
        else await this.setPhase('active')
        return { kind: 'rollback', activeVersion: this.active.version, slots: this.slots(), changed }
      }
      case 'switch': {
        if (this.staged === null) return { code: 'AGENT_NO_STAGED_MODEL', message: 'nothing staged' }
        this.previous = this.active
        this.active = this.staged
        this.staged = null
        await this.setPhase('active')
        return { kind: 'switch', activeVersion: this.active.version, slots: this.slots(), changed: true }
      }
      case 'decommission': {
        const freed = this.previous === null ? 0 : 1000
        this.previous = null
        await this.report()
        return { kind: 'decommission', slots: this.slots(), freedBytes: freed }
      }
      case 'status':
        return {
          kind: 'status',
          storage: { totalBytes: 1_000_000, freeBytes: 900_000, usedByModelsBytes: 100_000 },
          memory: { rssBytes: 5000, heapUsedBytes: 3000, systemTotalBytes: 100_000, systemFreeBytes: 50_000 },
          slots: this.slots(),
        }
      default:
        return { code: 'AGENT_INTERNAL', message: `fake device does not implement ${body.kind}` }
    }
  }

  private async replyError(commandId: string, code: string, message: string): Promise<void> {
    await this.publish('reply', { commandId, ok: false, error: { code, message, retryable: false } })
  }
}

/** Start `count` fake devices `${prefix}-${i}` (or the ids given) and wait until each is connected. */
export async function startFakeDevices(
  base: Omit<FakeDeviceOptions, 'deviceId'>,
  ids: readonly string[],
  perDevice: (id: string, i: number) => Partial<FakeDeviceOptions> = () => ({}),
): Promise<FakeDevice[] & AsyncDisposable> {
  const devices = await Promise.all(ids.map((id, i) => new FakeDevice({ ...base, deviceId: id, ...perDevice(id, i) }).start()))
  return Object.assign(devices, {
    [Symbol.asyncDispose]: async () => {
      await Promise.all(devices.map((d) => d.stop()))
    },
  })
}
