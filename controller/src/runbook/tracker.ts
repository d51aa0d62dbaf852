import type { Decoded, TelemetryBody } from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'

/** One device's telemetry windows over a span, summed. */
export interface DeviceTelemetry {
  windows: number
  inferences: number
  errors: number
  /** Failed share of attempts: errors / inferences (telemetry counts failed inferences in both); null without any. */
  errorRate: number | null
  /** Highest p95 window latency, ms. */
  latencyP95Max: number | null
  /** Average of the windows' average power, mW. */
  powerAvgMw: number | null
  temperatureC: number | null
  /** Latest memory use as a share of total (0–1). */
  memoryShare: number | null
  memoryUsedBytes: number | null
}

/**
 * The seam the runbook reads device telemetry through. `RecentTelemetry` below keeps the last
 * windows of each device in memory from the controller's MQTT feed; a reader over the Redis
 * telemetry windows of #7 can implement the same interface.
 */
export interface TelemetryReader {
  device(deviceId: string, sinceMs: number): DeviceTelemetry | null
}

interface Stamped {
  at: number
  body: TelemetryBody
}

export function summarizeWindows(list: readonly TelemetryBody[]): DeviceTelemetry | null {
  if (list.length === 0) return null
  let inferences = 0
  let errors = 0
  let p95: number | null = null
  const power: number[] = []
  let temperatureC: number | null = null
  let memory: TelemetryBody['memory'] = null
  for (const b of list) {
    inferences += b.inferences
    errors += b.errors
    if (b.latencyMs !== null) p95 = Math.max(p95 ?? 0, b.latencyMs.p95)
    if (b.energy !== null) power.push(b.energy.avgMw)
    if (b.temperatureC !== null) temperatureC = b.temperatureC
    if (b.memory !== null) memory = b.memory
  }
  const total = memory?.totalBytes ?? null
  return {
    windows: list.length,
    inferences,
    errors,
    errorRate: inferences === 0 ? null : errors / inferences,
    latencyP95Max: p95,
    powerAvgMw: power.length === 0 ? null : power.reduce((a, b) => a + b, 0) / power.length,
    temperatureC,
    memoryShare: memory === null || total === null || total === 0 ? null : memory.usedBytes / total,
    memoryUsedBytes: memory?.usedBytes ?? null,
  }
}

/** Recent telemetry windows per device, kept in memory (bounded by age and count). */
export class RecentTelemetry implements TelemetryReader {
  private readonly byDevice = new Map<string, Stamped[]>()

  constructor(
    private readonly clock: Clock,
    private readonly keepMs = 3_600_000,
    private readonly maxPerDevice = 4000,
  ) {}

  onMessage(m: Decoded): void {
    if (m.message.type !== 'telemetry') return
    const id = m.message.deviceId
    const now = this.clock.now()
    let list = this.byDevice.get(id)
    if (list === undefined) this.byDevice.set(id, (list = []))
    list.push({ at: now, body: m.message.body })
    while (list.length > 0 && ((list[0]?.at ?? now) < now - this.keepMs || list.length > this.maxPerDevice)) list.shift()
  }

  device(deviceId: string, sinceMs: number): DeviceTelemetry | null {
    const since = this.clock.now() - sinceMs
    return summarizeWindows((this.byDevice.get(deviceId) ?? []).filter((s) => s.at >= since).map((s) => s.body))
  }
}
