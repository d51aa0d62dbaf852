import type { DeviceDriver, InferenceResult, ModelImage, SelfTestResult, SensorReadings, SlotName } from '@liquid-edge/agent'
import { FleetError } from '@liquid-edge/protocol'

/** The "model" a fake package carries: output[j] = scale * input[j % inputLength] + bias. */
export interface FakeModelSpec {
  scale: number
  bias: number
}

export function fakeModelBytes(spec: FakeModelSpec): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ fakeModel: 1, ...spec }))
}

export function runFakeModel(spec: FakeModelSpec, input: ArrayLike<number>, outputLength: number): Float32Array {
  const out = new Float32Array(outputLength)
  for (let j = 0; j < outputLength; j++) out[j] = spec.scale * (input[j % input.length] ?? 0) + spec.bias
  return out
}

/** Faults a FakeDriver injects, globally or for one model version. */
export interface FakeFaults {
  /** Latency each inference reports, ms. @defaultValue 0.05 */
  latencyMs?: number
  /** Every n-th inference fails (1 = all). */
  errorEvery?: number
  /** Energy per inference, mJ; `null` = no energy sensor. @defaultValue null */
  energyMj?: number | null
  /** `load` rejects with DEVICE_OUT_OF_MEMORY. */
  failLoad?: boolean
  /** `load` never resolves (to kill a process mid-staging). */
  hangLoad?: boolean
  /** Outputs are off by this much (golden vectors fail). */
  outputOffset?: number
}

export interface FakeDriverOptions {
  hardware?: string
  /** Faults for every model. */
  faults?: FakeFaults
  /** Faults for one model version (override `faults`). */
  faultsByVersion?: Record<string, FakeFaults>
  sensors?: Partial<SensorReadings>
  /** `selfTest` reports a hardware fault. */
  hardwareFault?: boolean
}

interface Loaded {
  image: ModelImage
  spec: FakeModelSpec
  outputLength: number
  calls: number
}

/**
 * A DeviceDriver at the hardware edge for tests: models are {@link FakeModelSpec} JSON, inference
 * is a deterministic function, and faults (latency, errors, energy, load failures, hangs, wrong
 * outputs) are knobs that tests may change at any time. Records what it was asked to do.
 */
export class FakeDriver implements DeviceDriver {
  readonly hardware: string
  readonly slots: Record<SlotName, Loaded | null> = { a: null, b: null }
  active: SlotName | null = null
  /** Versions in the order they were activated. */
  readonly activations: string[] = []
  /** Versions in the order they were loaded. */
  readonly loads: string[] = []
  inferences = 0
  faults: FakeFaults
  faultsByVersion: Record<string, FakeFaults>
  sensors: SensorReadings
  hardwareFault: boolean
  closed = false

  constructor(options: FakeDriverOptions = {}) {
    this.hardware = options.hardware ?? 'fake-x86'
    this.faults = options.faults ?? {}
    this.faultsByVersion = options.faultsByVersion ?? {}
    this.hardwareFault = options.hardwareFault ?? false
    this.sensors = { powerMw: null, temperatureC: null, memory: null, storage: null, ...options.sensors }
  }

  private faultsOf(version: string): FakeFaults {
    return { ...this.faults, ...this.faultsByVersion[version] }
  }

  /** The version in a slot, or null. */
  versionIn(slot: SlotName): string | null {
    return this.slots[slot]?.image.manifest.version ?? null
  }

  get activeVersion(): string | null {
    return this.active === null ? null : this.versionIn(this.active)
  }

  async load(slot: SlotName, image: ModelImage): Promise<void> {
    const f = this.faultsOf(image.manifest.version)
    this.loads.push(image.manifest.version)
    if (f.hangLoad === true) await new Promise<never>(() => undefined)
    if (f.failLoad === true) throw new FleetError('DEVICE_OUT_OF_MEMORY', `fake: ${image.manifest.version} does not fit`)
    if (slot === this.active) throw new FleetError('DEVICE_UNSUPPORTED', 'fake: cannot load into the active slot')
    const spec = JSON.parse(new TextDecoder().decode(image.model)) as FakeModelSpec
    const outputLength = image.manifest.output.shape.reduce((a, b) => a * b, 1)
    this.slots[slot] = { image, spec, outputLength, calls: 0 }
  }

  unload(slot: SlotName): Promise<void> {
    this.slots[slot] = null
    if (this.active === slot) this.active = null
    return Promise.resolve()
  }

  activate(slot: SlotName): Promise<void> {
    const loaded = this.slots[slot]
    if (loaded === null) return Promise.reject(new FleetError('DEVICE_UNSUPPORTED', `fake: slot ${slot} is empty`))
    this.active = slot
    this.activations.push(loaded.image.manifest.version)
    return Promise.resolve()
  }

  infer(input: Float32Array, slot?: SlotName): Promise<InferenceResult> {
    const which = slot ?? this.active
    const loaded = which === null ? null : this.slots[which]
    if (loaded === null) return Promise.reject(new FleetError('DEVICE_INFERENCE_FAILED', 'fake: no model'))
    const f = this.faultsOf(loaded.image.manifest.version)
    loaded.calls++
    this.inferences++
    if (f.errorEvery !== undefined && loaded.calls % f.errorEvery === 0) {
      return Promise.reject(new FleetError('DEVICE_INFERENCE_FAILED', 'fake: injected inference error'))
    }
    const output = runFakeModel(loaded.spec, input, loaded.outputLength)
    if (f.outputOffset !== undefined) for (let j = 0; j < output.length; j++) output[j] = (output[j] ?? 0) + f.outputOffset
    return Promise.resolve({ output, latencyMs: f.latencyMs ?? 0.05, energyMj: f.energyMj ?? null })
  }

  readSensors(): Promise<SensorReadings> {
    return Promise.resolve({ ...this.sensors })
  }

  selfTest(): Promise<SelfTestResult> {
    return Promise.resolve(this.hardwareFault ? { ok: false, detail: 'fake: injected hardware fault' } : { ok: true })
  }

  close(): Promise<void> {
    this.closed = true
    return Promise.resolve()
  }
}
