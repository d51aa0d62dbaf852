import { createHash } from 'node:crypto'
import type { Clock, DeviceDriver, InferenceResult, ModelImage, SelfTestResult, SensorReadings, SlotName } from '@liquid-edge/agent'
import { systemClock } from '@liquid-edge/agent'
import { FleetError } from '@liquid-edge/protocol'
import { estimateMacs, seededRandom } from '../models/cfc.js'
import { acquireSharedModel, type SharedOnnxModel } from '../onnx/cache.js'
import { attempt, checkInput, checkLoadable, inputKey, loadedSlot } from '../driver-common.js'
import { Faults, hashSeed, type FaultSettings, type FaultSettingsInput } from './faults.js'
import { HARDWARE_PROFILES, modelLatencyMs, modelRamBytes, type HardwareProfile, type HardwareProfileName } from './profiles.js'
import { ThermalModel } from './thermal.js'

export interface SimulatedDriverOptions {
  /** @defaultValue 'stm32h743' */
  profile?: HardwareProfileName | HardwareProfile
  /** Seed of latency jitter and error draws; mixed with `deviceId`. @defaultValue 1 */
  seed?: number
  deviceId?: string
  /**
   * Where outputs come from. `real`: the package's model runs (onnxruntime, one shared session per
   * model sha256, each distinct input computed once per process), so golden checks, agreement and
   * accuracy can fail, and output faults show. `echo-golden`: no model runs — golden inputs get the
   * package's golden outputs, evaluation inputs a one-hot of their label, anything else a
   * deterministic pseudo-output; those checks cannot fail, so use it only where outputs do not
   * matter (connection and scale tests of models onnxruntime cannot load). Latency, power and heat
   * come from the profile either way.
   * @defaultValue 'real'
   */
  inference?: SimulatedInference
  /** A shared {@link Faults} (switch it at run time) or initial settings. */
  faults?: Faults | FaultSettingsInput
  clock?: Clock
  /** Wait the simulated latency when it is 1 ms or more. @defaultValue true */
  realTime?: boolean
}

/** Where a simulated device's outputs come from (see {@link SimulatedDriverOptions.inference}). */
export const SIMULATED_INFERENCE = ['real', 'echo-golden'] as const
export type SimulatedInference = (typeof SIMULATED_INFERENCE)[number]

interface LoadedSlot {
  image: ModelImage
  macs: number
  ramBytes: number
  onnx: SharedOnnxModel | null
  /** `echo-golden` only: the outputs the package expects, by input. */
  known: Map<string, Float32Array> | null
}

/** A simulated device: profile timing, power and heat, the package's real model, deterministic faults. */
export class SimulatedDriver implements DeviceDriver {
  readonly hardware: string
  readonly profile: HardwareProfile
  readonly faults: Faults
  readonly #slots = new Map<SlotName, LoadedSlot>()
  readonly #clock: Clock
  readonly #random: () => number
  readonly #inference: SimulatedInference
  readonly #realTime: boolean
  readonly #thermal: ThermalModel
  readonly #hung = new Set<() => void>()
  #active: SlotName | null = null
  #closed = false
  /** The last output computed, which a stuck output repeats. */
  #lastOutput: Float32Array | null = null

  constructor(options: SimulatedDriverOptions = {}) {
    const profile = options.profile ?? 'stm32h743'
    this.profile = typeof profile === 'string' ? HARDWARE_PROFILES[profile] : profile
    this.hardware = this.profile.name
    this.faults = options.faults instanceof Faults ? options.faults : new Faults(options.faults)
    this.#clock = options.clock ?? systemClock
    this.#random = seededRandom(hashSeed(`${options.seed ?? 1}:${options.deviceId ?? ''}`))
    this.#inference = options.inference ?? 'real'
    this.#realTime = options.realTime ?? true
    this.#thermal = new ThermalModel(this.profile, this.#clock.now())
    this.faults.on('changed', (s) => {
      if (!s.hang) this.#releaseHung()
    })
  }

  get activeSlot(): SlotName | null {
    return this.#active
  }

  /** Current simulated die temperature, °C. */
  get temperatureC(): number {
    return this.#thermal.temperature(this.#clock.now(), this.#activeEnergyFactor())
  }

  /** The energy fault as it applies to the active model (a version-scoped spike only while that version runs). */
  #activeEnergyFactor(): number {
    const active = this.#active === null ? undefined : this.#slots.get(this.#active)
    return scopedFaults(this.faults.settings, active?.image.manifest.version ?? '').energyFactor
  }

  async load(slot: SlotName, image: ModelImage): Promise<void> {
    this.#assertOpen()
    if (slot === this.#active) throw new FleetError('DEVICE_UNSUPPORTED', `slot ${slot} is active; load into the standby slot`)
    if (this.faults.settings.diskFull)
      throw new FleetError('AGENT_DISK_FULL', 'no space left on the device for the model', { retryable: true })
    checkLoadable(image)
    const size = image.model.byteLength
    if (size > this.profile.storage.slotBytes) {
      throw new FleetError(
        'DEVICE_OUT_OF_MEMORY',
        `model of ${size} bytes exceeds the ${this.profile.storage.slotBytes}-byte slot of ${this.hardware}`,
      )
    }
    const ramBytes = modelRamBytes(size)
    const otherRam = [...this.#slots].filter(([s]) => s !== slot).reduce((sum, [, l]) => sum + l.ramBytes, 0)
    if (this.profile.memory.baseUsedBytes + otherRam + ramBytes > this.profile.memory.totalBytes) {
      throw new FleetError('DEVICE_OUT_OF_MEMORY', `model needs ${ramBytes} bytes of RAM; ${this.hardware} has not that much free`)
    }
    let onnx: SharedOnnxModel | null = null
    if (this.#inference === 'real') {
      const { input, output } = image.manifest
      try {
        onnx = await acquireSharedModel(image.manifest.modelSha256, image.model, {
          inputName: input.name,
          outputName: output.name,
          inputShape: input.shape,
        })
      } catch (err) {
        throw new FleetError('AGENT_LOAD_FAILED', 'onnxruntime cannot load the model', { cause: err })
      }
    }
    await this.#release(slot)
    const known = this.#inference === 'echo-golden' ? knownOutputs(image) : null
    this.#slots.set(slot, { image, macs: estimateMacs(image.model), ramBytes, onnx, known })
  }

  async unload(slot: SlotName): Promise<void> {
    this.#assertOpen()
    await this.#release(slot)
    if (this.#active === slot) this.#active = null
  }

  activate(slot: SlotName): Promise<void> {
    return attempt(() => {
      this.#assertOpen()
      loadedSlot(this.#slots, slot)
      this.#active = slot
    })
  }

  async infer(input: Float32Array, slot?: SlotName): Promise<InferenceResult> {
    this.#assertOpen()
    const loaded = loadedSlot(this.#slots, slot ?? this.#active)
    checkInput(loaded.image.manifest, input)
    const faults = scopedFaults(this.faults.settings, loaded.image.manifest.version)
    if (faults.hang) await this.#hang()
    const now = this.#clock.now()
    const throttle =
      this.#thermal.temperature(now, faults.energyFactor) > this.profile.thermal.throttleC ? this.profile.thermal.throttleFactor : 1
    const tail = faults.tailShare > 0 && this.#random() < faults.tailShare ? faults.tailFactor : 1
    const latencyMs = modelLatencyMs(this.profile, loaded.macs) * this.#jitter() * faults.latencyFactor * tail * throttle
    const failed = this.#random() < faults.errorRate
    const output = failed ? null : this.#faulty(await this.#output(loaded, input), faults)
    if (this.#realTime && latencyMs >= 1) await this.#wait(latencyMs)
    this.#thermal.addBusy(latencyMs)
    if (output === null) throw new FleetError('DEVICE_INFERENCE_FAILED', 'simulated inference error', { retryable: true })
    const energyMj = (this.profile.activeMw * faults.energyFactor * latencyMs) / 1000
    return { output, latencyMs, energyMj }
  }

  readSensors(): Promise<SensorReadings> {
    return attempt(() => this.#sensors())
  }

  #sensors(): SensorReadings {
    this.#assertOpen()
    const now = this.#clock.now()
    const energyFactor = this.#activeEnergyFactor()
    const usedRam = [...this.#slots.values()].reduce((sum, l) => sum + l.ramBytes, this.profile.memory.baseUsedBytes)
    const usedStorage = [...this.#slots.values()].reduce((sum, l) => sum + l.image.model.byteLength, 0)
    return {
      powerMw: this.#thermal.takeAveragePowerMw(now, energyFactor),
      temperatureC: Math.round(this.#thermal.temperature(now, energyFactor) * 10) / 10,
      memory: { usedBytes: usedRam, totalBytes: this.profile.memory.totalBytes },
      storage: {
        freeBytes: this.faults.settings.diskFull ? 0 : this.profile.storage.totalBytes - usedStorage,
        totalBytes: this.profile.storage.totalBytes,
      },
    }
  }

  async selfTest(): Promise<SelfTestResult> {
    this.#assertOpen()
    if (this.faults.settings.hang) await this.#hang()
    if (this.faults.settings.diskFull) return { ok: false, detail: 'storage is full' }
    return { ok: true, detail: `${this.profile.description}: memory, flash and link OK` }
  }

  /** A reboot, for simulated crashes: the loaded models are gone (RAM), the die keeps its heat. */
  async powerCycle(): Promise<void> {
    this.#releaseHung()
    for (const slot of [...this.#slots.keys()]) await this.#release(slot)
    this.#active = null
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.powerCycle()
  }

  async #release(slot: SlotName): Promise<void> {
    const loaded = this.#slots.get(slot)
    this.#slots.delete(slot)
    await loaded?.onnx?.release()
  }

  #assertOpen(): void {
    if (this.#closed) throw new FleetError('DEVICE_LINK_ERROR', 'the simulated device is closed')
  }

  /** exp(σ·N(0,1)). */
  #jitter(): number {
    const sigma = this.profile.jitterSigma
    return sigma === 0 ? 1 : Math.exp(sigma * this.#normal())
  }

  /** A standard normal draw (Box–Muller). */
  #normal(): number {
    const u = Math.max(this.#random(), 1e-12)
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.#random())
  }

  async #output(loaded: LoadedSlot, input: Float32Array): Promise<Float32Array> {
    if (loaded.onnx !== null) {
      try {
        return await loaded.onnx.run(input)
      } catch (err) {
        throw new FleetError('DEVICE_INFERENCE_FAILED', 'onnxruntime failed to run the model', { cause: err })
      }
    }
    return loaded.known?.get(inputKey(input))?.slice() ?? pseudoOutput(loaded.image, input)
  }

  /** The output faults applied to a computed output (in place). */
  #faulty(output: Float32Array, faults: FaultSettings): Float32Array {
    if (faults.stuckOutput) {
      const stuck = this.#lastOutput?.length === output.length ? this.#lastOutput.slice() : new Float32Array(output.length)
      return stuck
    }
    if (faults.outputBias !== 0 && output.length > 0) output[0] = (output[0] ?? 0) + faults.outputBias
    if (faults.outputNoise > 0) for (let i = 0; i < output.length; i++) output[i] = (output[i] ?? 0) + faults.outputNoise * this.#normal()
    this.#lastOutput = output.slice()
    return output
  }

  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => this.#clock.setTimeout(resolve, ms))
  }

  #hang(): Promise<void> {
    return new Promise((resolve, reject) => {
      const release = () => {
        this.#hung.delete(release)
        if (this.#closed) reject(new FleetError('DEVICE_TIMEOUT', 'the simulated device stopped answering'))
        else resolve()
      }
      this.#hung.add(release)
    })
  }

  #releaseHung(): void {
    for (const release of [...this.#hung]) release()
  }
}

/** Outputs the echo-golden mode knows: golden vectors, and one-hot labels of the evaluation set. */
function knownOutputs(image: ModelImage): Map<string, Float32Array> {
  const known = new Map<string, Float32Array>()
  const outLen = image.manifest.output.shape.reduce((a, b) => a * b, 1)
  for (const s of image.manifest.evaluation?.samples ?? []) {
    const y = new Float32Array(outLen)
    y[s.label] = 1
    known.set(inputKey(Float32Array.from(s.input)), y)
  }
  for (const g of image.manifest.golden) known.set(inputKey(Float32Array.from(g.input)), Float32Array.from(g.output))
  return known
}

/** A deterministic output in [-1, 1) derived from the model and the input. */
function pseudoOutput(image: ModelImage, input: Float32Array): Float32Array {
  const outLen = image.manifest.output.shape.reduce((a, b) => a * b, 1)
  const digest = createHash('sha256')
    .update(image.manifest.modelSha256)
    .update(new Uint8Array(input.buffer, input.byteOffset, input.byteLength))
    .digest()
  const random = seededRandom(digest.readUInt32LE(0))
  return Float32Array.from({ length: outLen }, () => random() * 2 - 1)
}

/** A simulated device, ready to use. */
export function createSimulatedDriver(options: SimulatedDriverOptions = {}): Promise<SimulatedDriver> {
  return Promise.resolve(new SimulatedDriver(options))
}

/** The faults that act on an inference of `version`: inference faults outside their scope are off. */
function scopedFaults(settings: FaultSettings, version: string): FaultSettings {
  if (settings.modelVersion === null || settings.modelVersion === version) return settings
  return { ...settings, latencyFactor: 1, tailShare: 0, errorRate: 0, energyFactor: 1, outputNoise: 0, outputBias: 0, stuckOutput: false }
}
