/**
 * The ports the agent declares and drivers implement (`@liquid-edge/devices`: edge-node over
 * onnxruntime, the simulated device, the STM32 gateway driver). The agent never imports a driver.
 */
import type { PackageManifest } from '@liquid-edge/protocol'

/** The two model slots (A/B). */
export type SlotName = 'a' | 'b'

/** A model to load: the manifest from its `.liquid` package and the ONNX bytes. */
export interface ModelImage {
  manifest: PackageManifest
  model: Uint8Array
}

/** One inference. */
export interface InferenceResult {
  /** Flattened output (length = product of the manifest's output shape). */
  output: Float32Array
  /** Wall-clock latency of the inference as the driver measured it, ms. */
  latencyMs: number
  /** Energy this inference used, mJ, when the hardware can tell; `null` when unknown. */
  energyMj: number | null
}

/** What the device's sensors say right now. Anything the hardware cannot measure is `null` — never invented. */
export interface SensorReadings {
  /** Average power draw since the previous reading, mW. */
  powerMw: number | null
  temperatureC: number | null
  memory: { usedBytes: number; totalBytes: number | null } | null
  /** Free and total storage for model slots, bytes. */
  storage: { freeBytes: number; totalBytes: number } | null
}

export interface SelfTestResult {
  ok: boolean
  detail?: string
}

/**
 * A device the agent drives. Methods reject with a `FleetError` (`DEVICE_*` or `AGENT_LOAD_FAILED`
 * codes) on failure; a driver never throws synchronously.
 */
export interface DeviceDriver {
  /** Hardware profile name, e.g. `x86-edge`, `cortex-a53`, `stm32h743`. */
  readonly hardware: string
  /** Load a model into a slot, replacing what was there. The active slot is refused (`DEVICE_UNSUPPORTED`). */
  load(slot: SlotName, image: ModelImage): Promise<void>
  /** Free a slot. Unloading an empty slot is a no-op. */
  unload(slot: SlotName): Promise<void>
  /** Make a loaded slot the one `infer` runs by default. */
  activate(slot: SlotName): Promise<void>
  /** Run one inference on `slot` (default: the active slot). Input length must match the model's input shape. */
  infer(input: Float32Array, slot?: SlotName): Promise<InferenceResult>
  readSensors(): Promise<SensorReadings>
  /** A hardware check independent of any model (memory, flash, link). */
  selfTest(): Promise<SelfTestResult>
  close(): Promise<void>
}

/** Time, injected wherever it drives logic so tests can drive it. */
export interface Clock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => {
    clearTimeout(handle as ReturnType<typeof setTimeout>)
  },
}

/** Where and how an artifact is fetched. */
export interface ArtifactRequest {
  url: string
  /** Expected size in bytes; a larger body is refused (`AGENT_ARTIFACT_TOO_LARGE`). */
  size: number
  /** Write (and resume) the body into this file. */
  destPath: string
  signal: AbortSignal
  /** Called as bytes arrive, with the total so far. */
  onProgress?: (receivedBytes: number) => void
}

/**
 * Downloads artifacts. The default is HTTP(S) with Range resume, a size cap and timeouts; tests
 * and gateways may inject another. Rejects with a `FleetError` (`AGENT_DOWNLOAD_FAILED`,
 * `AGENT_ARTIFACT_TOO_LARGE`, `AGENT_DISK_FULL`).
 */
export interface ArtifactFetcher {
  fetch(request: ArtifactRequest): Promise<void>
}

/**
 * Small named documents the agent must not lose (its state, command replies). `write` is atomic
 * and durable: after it resolves, a power cut leaves either the old or the new value, never a mix.
 */
export interface StateStore {
  read(name: string): Promise<Uint8Array | null>
  write(name: string, bytes: Uint8Array): Promise<void>
  /** Forget a document (a freed slot's package). Optional: without it the bytes stay until overwritten. */
  remove?(name: string): Promise<void>
}
