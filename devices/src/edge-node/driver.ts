import { tmpdir } from 'node:os'
import type { DeviceDriver, InferenceResult, ModelImage, SelfTestResult, SensorReadings, SlotName } from '@liquid-edge/agent'
import { FleetError } from '@liquid-edge/protocol'
import { attempt, checkInput, checkLoadable, loadedSlot } from '../driver-common.js'
import { openOnnxModel } from '../onnx/session.js'
import { WorkerModel } from '../onnx/worker-model.js'
import { RaplMeter, readMemory, readStorage, readTemperatureC } from './sensors.js'

/**
 * Models whose warm median inference takes longer than this run in a worker thread by default.
 * bench/devices measured the line: below ~1 ms the worker hop (≈0.05–0.1 ms) costs more than the
 * event-loop stall it avoids; above it, inline inference delays MQTT keepalives, HTTP and timers.
 */
export const DEFAULT_WORKER_THRESHOLD_MS = 1

export interface EdgeNodeDriverOptions {
  /** Hardware label reported to the fleet. @defaultValue `arm64-edge` on arm64, else `x86-edge` */
  hardware?: string
  /** @defaultValue '/sys/class/powercap' */
  powercapRoot?: string
  /** @defaultValue '/sys/class/thermal' */
  thermalRoot?: string
  /** Directory whose file system holds the model slots (storage readings). @defaultValue os.tmpdir() */
  storageDir?: string
  /** `auto`: a worker thread when the model's warm median latency exceeds `workerThresholdMs`. @defaultValue 'auto' */
  worker?: 'auto' | 'always' | 'never'
  /** @defaultValue {@link DEFAULT_WORKER_THRESHOLD_MS} */
  workerThresholdMs?: number
}

interface Runner {
  run(input: Float32Array): Promise<Float32Array>
  release(): Promise<void>
}

interface LoadedSlot {
  image: ModelImage
  runner: Runner
  inWorker: boolean
}

/** A Linux edge node running models with onnxruntime-node, one session per slot. */
export class EdgeNodeDriver implements DeviceDriver {
  readonly hardware: string
  readonly #options: EdgeNodeDriverOptions
  readonly #slots = new Map<SlotName, LoadedSlot>()
  readonly #rapl: RaplMeter | null
  #active: SlotName | null = null
  #closed = false

  constructor(options: EdgeNodeDriverOptions, rapl: RaplMeter | null) {
    this.#options = options
    this.hardware = options.hardware ?? (process.arch === 'arm64' ? 'arm64-edge' : 'x86-edge')
    this.#rapl = rapl
  }

  /** Whether a slot's model runs in a worker thread (`null` for an empty slot). */
  inWorker(slot: SlotName): boolean | null {
    return this.#slots.get(slot)?.inWorker ?? null
  }

  async load(slot: SlotName, image: ModelImage): Promise<void> {
    this.#assertOpen()
    if (slot === this.#active) throw new FleetError('DEVICE_UNSUPPORTED', `slot ${slot} is active; load into the standby slot`)
    checkLoadable(image)
    let loaded: LoadedSlot
    try {
      loaded = await this.#open(image)
    } catch (err) {
      throw new FleetError('AGENT_LOAD_FAILED', `onnxruntime cannot load the model: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      })
    }
    await this.#release(slot)
    this.#slots.set(slot, loaded)
  }

  async #open(image: ModelImage): Promise<LoadedSlot> {
    const { input, output } = image.manifest
    const io = { inputName: input.name, outputName: output.name, inputShape: input.shape }
    const mode = this.#options.worker ?? 'auto'
    if (mode === 'always') return { image, runner: await WorkerModel.open(image.model, io), inWorker: true }
    const inline = await openOnnxModel(image.model, io)
    if (mode === 'never') return { image, runner: inline, inWorker: false }
    const probe = Float32Array.from(image.manifest.golden[0]?.input ?? [])
    const times: number[] = []
    for (let i = 0; i < 6; i++) {
      const t0 = performance.now()
      await inline.run(probe)
      times.push(performance.now() - t0)
    }
    const median = times.slice(1).sort((a, b) => a - b)[2] ?? 0
    if (median <= (this.#options.workerThresholdMs ?? DEFAULT_WORKER_THRESHOLD_MS)) return { image, runner: inline, inWorker: false }
    await inline.release()
    return { image, runner: await WorkerModel.open(image.model, io), inWorker: true }
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
    const t0 = performance.now()
    let output: Float32Array
    try {
      output = await loaded.runner.run(input)
    } catch (err) {
      throw new FleetError('DEVICE_INFERENCE_FAILED', `onnxruntime failed: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
        retryable: true,
      })
    }
    // Energy of one inference cannot be told apart on a shared CPU package: unknown, not estimated.
    return { output, latencyMs: performance.now() - t0, energyMj: null }
  }

  async readSensors(): Promise<SensorReadings> {
    this.#assertOpen()
    return {
      powerMw: this.#rapl === null ? null : await this.#rapl.powerMw(performance.now()),
      temperatureC: await readTemperatureC(this.#options.thermalRoot ?? '/sys/class/thermal'),
      memory: readMemory(),
      storage: await readStorage(this.#options.storageDir ?? tmpdir()),
    }
  }

  async selfTest(): Promise<SelfTestResult> {
    this.#assertOpen()
    const storage = await readStorage(this.#options.storageDir ?? tmpdir())
    if (storage === null) return { ok: false, detail: 'the model storage directory cannot be read' }
    if (storage.freeBytes === 0) return { ok: false, detail: 'model storage is full' }
    const memory = readMemory()
    return { ok: true, detail: `onnxruntime ready; ${Math.round((memory.totalBytes - memory.usedBytes) / 2 ** 20)} MiB memory free` }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const slot of [...this.#slots.keys()]) await this.#release(slot)
    this.#active = null
  }

  async #release(slot: SlotName): Promise<void> {
    const loaded = this.#slots.get(slot)
    this.#slots.delete(slot)
    await loaded?.runner.release()
  }

  #assertOpen(): void {
    if (this.#closed) throw new FleetError('DEVICE_LINK_ERROR', 'the edge-node driver is closed')
  }
}

/** An edge-node driver; finds the RAPL counters once. */
export async function createEdgeNodeDriver(options: EdgeNodeDriverOptions = {}): Promise<EdgeNodeDriver> {
  const rapl = await RaplMeter.open(options.powercapRoot ?? '/sys/class/powercap')
  return new EdgeNodeDriver(options, rapl)
}
