import { EventEmitter } from 'node:events'
import * as z from 'zod'

/**
 * Faults a simulated device can be given, switchable at run time. Driver faults act inside
 * {@link SimulatedDriver}; `corruptDownload`, `flapping` and `crash` act outside it (the artifact
 * fetcher, the MQTT transport, the agent process) and are read by whoever wires those.
 */
export const FaultSettingsSchema = z.object({
  /** Latency regression: every inference takes this many times longer. 1 = none. */
  latencyFactor: z.number().min(1).max(1000).default(1),
  /**
   * Tail regression: this share (0–1) of inferences takes `tailFactor` times longer, the rest are
   * unchanged — the slowest inferences regress while the median does not. 0 = none.
   */
  tailShare: z.number().min(0).max(1).default(0),
  /** How many times longer the tail's inferences take (see `tailShare`). */
  tailFactor: z.number().min(1).max(1000).default(1),
  /** Error rate 0–1: inferences that fail with `DEVICE_INFERENCE_FAILED`. */
  errorRate: z.number().min(0).max(1).default(0),
  /** Energy spike: power draw and energy per inference are multiplied by this. 1 = none. */
  energyFactor: z.number().min(1).max(1000).default(1),
  /**
   * Output noise: Gaussian noise of this standard deviation is added to every output value (a
   * degraded sensor path or a corrupted weight page). 0 = none.
   */
  outputNoise: z.number().min(0).max(1000).default(0),
  /**
   * Output bias: added to the first output value (a miscalibrated score that wins too often, so a
   * classifier's accuracy falls and golden outputs move off). 0 = none.
   */
  outputBias: z.number().min(-1000).max(1000).default(0),
  /** Stuck output: every inference answers the last output computed before the fault (zeros if none). */
  stuckOutput: z.boolean().default(false),
  /** Hang: inferences and self-tests never answer until the fault is cleared (or the driver closes). */
  hang: z.boolean().default(false),
  /** Disk full: loading a model fails with `AGENT_DISK_FULL`; storage reports 0 free. */
  diskFull: z.boolean().default(false),
  /** Corrupted download: artifact bytes are altered in transit (read by the fetcher). */
  corruptDownload: z.boolean().default(false),
  /** Crash: the device's agent dies and restarts (read by the process that runs it). */
  crash: z.boolean().default(false),
  /** Flapping connection: the MQTT link drops every `periodMs` (read by the transport). 0 = none. */
  flappingPeriodMs: z.number().int().min(0).max(3_600_000).default(0),
  /**
   * Scope of the inference faults (latency, error rate, energy, outputs): only while a model of this
   * version is the one inferring — a regression that belongs to a release. `null` = any model.
   */
  modelVersion: z.string().max(64).nullable().default(null),
})
export type FaultSettings = z.output<typeof FaultSettingsSchema>
export type FaultSettingsInput = z.input<typeof FaultSettingsSchema>
export const FAULT_NAMES = Object.keys(FaultSettingsSchema.shape) as (keyof FaultSettings)[]

export const NO_FAULTS: FaultSettings = Object.freeze(FaultSettingsSchema.parse({}))

/** Does any fault act on a device with these settings (the version scope aside)? */
export function isFaulty(s: FaultSettings): boolean {
  return (
    s.latencyFactor > 1 ||
    (s.tailShare > 0 && s.tailFactor > 1) ||
    s.errorRate > 0 ||
    s.energyFactor > 1 ||
    hasOutputFault(s) ||
    s.hang ||
    s.diskFull ||
    s.corruptDownload ||
    s.crash ||
    s.flappingPeriodMs > 0
  )
}

/** Does a fault change what inferences answer? */
export function hasOutputFault(s: FaultSettings): boolean {
  return s.outputNoise > 0 || s.outputBias !== 0 || s.stuckOutput
}

export interface FaultEvents {
  /** The settings after a change. */
  changed: [FaultSettings]
}

/** The live fault settings of one simulated device. */
export class Faults extends EventEmitter<FaultEvents> {
  #settings: FaultSettings

  constructor(initial: FaultSettingsInput = {}) {
    super()
    this.#settings = FaultSettingsSchema.parse(initial)
  }

  get settings(): FaultSettings {
    return this.#settings
  }

  /** Change some faults (validated); the others keep their value. */
  set(change: FaultSettingsInput): FaultSettings {
    this.#settings = FaultSettingsSchema.parse({ ...this.#settings, ...change })
    this.emit('changed', this.#settings)
    return this.#settings
  }

  /** Back to a healthy device. */
  clear(): FaultSettings {
    return this.set(NO_FAULTS)
  }
}

/** A deterministic 32-bit seed from a string (FNV-1a), e.g. seed + device id. */
export function hashSeed(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}
