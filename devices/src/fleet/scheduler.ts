import type { FleetDevice } from './fleet-device.js'

export interface SchedulerOptions {
  ratePerS: number
  windowMs: number
  onWindow: () => void
  onInference: (ok: boolean) => void
}

const TICK_MS = 50
/** A device never has more inferences in flight than this (a hung device does not pile them up). */
const MAX_INFLIGHT = 4

/**
 * One timer for the whole fleet: every tick it gives each device its share of the workload
 * (inferences through the agent, as applications on the device would send them) and closes the
 * telemetry windows that are due. Windows are spread evenly over the window length so that 10,000
 * devices do not publish in the same millisecond.
 */
export class FleetScheduler {
  readonly #devices: FleetDevice[]
  readonly #options: SchedulerOptions
  readonly #inputs = new Map<string, Float32Array[]>()
  #timer: NodeJS.Timeout | null = null
  #round = 0

  constructor(devices: FleetDevice[], options: SchedulerOptions) {
    this.#devices = devices
    this.#options = options
  }

  start(): void {
    const now = performance.now()
    this.#devices.forEach((d, i) => {
      d.nextWindowAt = now + this.#options.windowMs * ((i + 1) / this.#devices.length)
      d.credit = (i % 10) / 10
    })
    this.#timer = setInterval(() => {
      this.#tick()
    }, TICK_MS)
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  #tick(): void {
    const now = performance.now()
    const share = (this.#options.ratePerS * TICK_MS) / 1000
    this.#round++
    for (const d of this.#devices) {
      const agent = d.agent
      if (agent === null) continue
      d.credit += share
      while (d.credit >= 1) {
        d.credit -= 1
        this.#infer(d)
      }
      if (now >= d.nextWindowAt && !d.windowBusy) {
        d.nextWindowAt += this.#options.windowMs * Math.max(1, Math.ceil((now - d.nextWindowAt) / this.#options.windowMs))
        d.windowBusy = true
        agent
          .closeWindow()
          .then(
            () => {
              this.#options.onWindow()
            },
            () => undefined,
          )
          .finally(() => (d.windowBusy = false))
      }
    }
  }

  #infer(d: FleetDevice): void {
    const agent = d.agent
    if (agent === null || agent.model === null || d.inflight >= MAX_INFLIGHT) return
    const slot = agent.state.active
    const manifest = slot === null ? null : agent.manifests[slot]
    if (manifest === null) return
    let inputs = this.#inputs.get(manifest.modelSha256)
    if (inputs === undefined) {
      inputs = manifest.golden.map((g) => Float32Array.from(g.input))
      this.#inputs.set(manifest.modelSha256, inputs)
    }
    const input = inputs[this.#round % inputs.length]
    if (input === undefined) return
    d.inflight++
    agent
      .infer(input)
      .then(
        () => {
          this.#options.onInference(true)
        },
        () => {
          this.#options.onInference(false)
        },
      )
      .finally(() => d.inflight--)
  }
}
