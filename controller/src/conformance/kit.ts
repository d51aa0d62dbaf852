import type { Logger } from 'pino'
import type { CommandInput, MessageInputOf, ModelRef, ReplyBody, ReportedBody } from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'
import type { ArtifactStore } from '../models/artifact-store.js'
import type { ModelRecord, ModelStore } from '../models/model-store.js'
import type { RolloutRepo } from '../rollout/repo.js'
import type { OperatorAction } from './report.js'
import type { DeviceTap, Seen, TapSource } from './tap.js'

/** What the kit needs of the controller's MQTT session (MqttLink satisfies it). */
export interface KitLink extends TapSource {
  publishDesired(deviceId: string, body: MessageInputOf<'desired'>['body']): Promise<void>
  publishCommand(deviceId: string, body: CommandInput, id?: string): Promise<string>
  /** Publish a command of a kind this protocol version does not define (the contract says how a device refuses it). */
  publishFutureCommand(deviceId: string, kind: string, id: string, expiresAt: number): Promise<void>
  /** The retained message on `topic` as a new subscriber gets it, or null when none arrives within `windowMs`. */
  retained(topic: string, windowMs: number): Promise<Uint8Array | null>
  readonly codec: { topics: { status(id: string): string; reported(id: string): string; telemetry(id: string): string } }
}

export interface KitDeps {
  link: KitLink
  repo: Pick<RolloutRepo, 'nextGeneration'>
  models: ModelStore
  artifacts: ArtifactStore
  clock: Clock
  logger: Logger
}

export interface KitSettings {
  /** Trial length of the deploys the kit makes, ms. */
  trialMs: number
  /** How long one step may take (a download, a command answer), ms. */
  stepTimeoutMs: number
  /** How long the operator has to take the device offline and back, ms. */
  offlineTimeoutMs: number
  onAction: (action: OperatorAction) => void | Promise<void>
}

type Slot = ReportedBody['slots'][number]

/** How the kit's deploys differ from its defaults. */
export interface DesireOptions {
  trialMs?: number
  mode?: 'activate' | 'stage'
  expiresAt?: number | null
  policy?: Record<string, number>
}

/** A command body of any kind, without its expiry (distributes over the kinds). */
export type CommandWithoutExpiry = CommandInput extends infer C ? (C extends unknown ? Omit<C, 'expiresAt'> : never) : never

/** The device under test and the means to drive it: the controller's generations, its MQTT session, its store. */
export class Kit {
  /** Set once the device went offline in this run (the offline checks hand over through it). */
  offline: {
    /** The device's own online session before the outage (a child's, not its gateway's). */
    deviceSession: number
    /** The highest telemetry `seq` seen before the outage. */
    lastSeqBefore: number | null
    /** Where the tap stood when the kit asked for the outage: windows from there on count as sent. */
    cutFrom: number
    /** Where the tap stood when the device came back (set by the catch-up check). */
    backFrom: number | null
    /** The session of the device's first online status after the outage. */
    reconnectedSession: number | null
  } | null = null

  constructor(
    readonly deps: KitDeps,
    readonly settings: KitSettings,
    readonly tap: DeviceTap,
    readonly device: { id: string; hardware: string; gateway: string | null; initial: ReportedBody | null },
    readonly pair: readonly [ModelRecord, ModelRecord],
  ) {}

  get id(): string {
    return this.device.id
  }

  /** The latest reported state of the device: seen in this run, else the one it had at the start. */
  reported(): ReportedBody | null {
    return this.tap.of('reported', 0, this.id).at(-1)?.body ?? this.device.initial
  }

  /** The serving slot (active or trial) of the latest report. */
  serving(): Slot | null {
    return this.reported()?.slots.find((s) => s.role === 'active' || s.role === 'trial') ?? null
  }

  /** The model of the pair the device does not serve now (the other one when it serves neither). */
  other(): ModelRecord {
    const sha = this.serving()?.model.sha256
    return this.pair[0].sha256 === sha ? this.pair[1] : this.pair[0]
  }

  /** The model of the pair the device serves now (the first one when it serves neither). */
  current(): ModelRecord {
    const sha = this.serving()?.model.sha256
    return this.pair[1].sha256 === sha ? this.pair[1] : this.pair[0]
  }

  ref(record: ModelRecord): ModelRef {
    return this.deps.models.ref(record)
  }

  /**
   * Publish a desired state with a fresh generation from the controller's own counter (so the
   * controller's view of the device stays true), and return that generation.
   */
  async desire(model: ModelRef, o: DesireOptions = {}): Promise<number> {
    const [gen] = await this.desireInOrder([{ model, ...o }])
    return gen ?? 0
  }

  /**
   * Publish desired states back to back, in order, each with a fresh generation. The generations
   * are taken first, so that no controller round trip lies between the publishes: a device can
   * finish a small update in tens of milliseconds, sooner than the kit's next Redis and MQTT calls.
   */
  async desireInOrder(items: readonly (DesireOptions & { model: ModelRef })[]): Promise<number[]> {
    const bodies: MessageInputOf<'desired'>['body'][] = []
    for (const { model, ...o } of items) {
      const record = (await this.deps.models.bySha(model.sha256)) ?? this.pair[0]
      const mode = o.mode ?? 'activate'
      const minGen = Math.max(this.reported()?.generation ?? 0, bodies.at(-1)?.generation ?? 0) + 1
      const gen = await this.deps.repo.nextGeneration(
        this.id,
        { rolloutId: null, name: model.name, version: model.version, sha256: model.sha256, mode, at: this.deps.clock.now() },
        minGen,
      )
      bodies.push({
        generation: gen,
        rolloutId: null,
        model,
        policy: {
          trialMs: o.trialMs ?? this.settings.trialMs,
          latencyThresholdMs: record.manifest.latencyThresholdMs,
          energyBudgetMw: record.manifest.energyBudgetMw,
          // The kit checks the contract, not a power meter: a device without one would revert every
          // trial of the run with AGENT_TRIAL_UNMEASURED (§6.9) and never reach the later checks.
          optional: ['energy', 'memory'],
          // Nor the speed of the machine that runs it: its deploys are not judged on rates and latency
          // (a loaded test host is not the device). trial.revert breaks a policy on purpose instead.
          minSamples: Number.MAX_SAFE_INTEGER,
          ...o.policy,
        },
        mode,
        expiresAt: o.expiresAt ?? null,
      })
    }
    // Issued together, delivered in order (one client, one topic, QoS 1).
    await Promise.all(bodies.map((body) => this.deps.link.publishDesired(this.id, body)))
    return bodies.map((b) => b.generation)
  }

  /** Send a command and wait for its final answer. */
  async command(body: CommandInput, id = `conf-${globalThis.crypto.randomUUID()}`): Promise<{ id: string; reply: ReplyBody; at: number }> {
    const from = this.tap.mark
    await this.deps.link.publishCommand(this.id, body, id)
    const s = await this.tap.next((x) => x.message.type === 'reply' && x.message.body.commandId === id && x.message.body.final, {
      from,
      timeoutMs: this.settings.stepTimeoutMs,
      what: `answer to the ${body.kind} command ${id}`,
    })
    return { id, reply: (s.message as Extract<Seen['message'], { type: 'reply' }>).body, at: s.at }
  }

  /** A command body with an expiry one step ahead. */
  expiring(body: CommandWithoutExpiry): CommandInput {
    return { ...body, expiresAt: this.deps.clock.now() + this.settings.stepTimeoutMs }
  }

  /** The next report of the device (from `from` on) that `match` accepts. */
  async reportedWhere(match: (r: ReportedBody) => boolean, from: number, what: string, timeoutMs?: number): Promise<ReportedBody> {
    const s = await this.tap.next((x) => x.message.type === 'reported' && x.message.deviceId === this.id && match(x.message.body), {
      from,
      timeoutMs: timeoutMs ?? this.settings.stepTimeoutMs,
      what,
    })
    return (s.message as Extract<Seen['message'], { type: 'reported' }>).body
  }

  /** The reports of the device from `from` on. */
  reports(from: number): ReportedBody[] {
    return this.tap.of('reported', from, this.id).map((m) => m.body)
  }
}

/** `name@version` of a record. */
export function spec(r: { name: string; version: string }): string {
  return `${r.name}@${r.version}`
}

/** A short line of slots, e.g. `a:kws@2.0.0 active, b:kws@1.0.0 previous`. */
export function slotsLine(slots: readonly Slot[]): string {
  return slots.length === 0 ? 'no slots' : slots.map((s) => `${s.slot}:${spec(s.model)} ${s.role}`).join(', ')
}
