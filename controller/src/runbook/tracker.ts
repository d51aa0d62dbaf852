import { averagePowerMw, errorRate } from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'
import type { LiveStore } from '../registry/live.js'
import type { WindowStore } from '../telemetry/window-store.js'

/** One device's telemetry windows over a span, summed. */
export interface DeviceTelemetry {
  windows: number
  inferences: number
  errors: number
  /** Failed share of attempts: errors / inferences (telemetry counts failed inferences in both); null without any. */
  errorRate: number | null
  /** Mean latency of its successful inferences over the span, ms; null without any. */
  latencyAvgMs: number | null
  /** Average power over the windows: their energy over their measured time, mW. */
  powerAvgMw: number | null
  /** Its last window's temperature. */
  temperatureC: number | null
  /** Its last window's memory use as a share of total (0–1). */
  memoryShare: number | null
  memoryUsedBytes: number | null
}

/** The seam the runbook reads device telemetry through. */
export interface TelemetryReader {
  /** Each device's telemetry over the last `sinceMs` (a device with none is absent). */
  devices(ids: readonly string[], sinceMs: number): Promise<Map<string, DeviceTelemetry>>
}

/**
 * Device telemetry from the store the rules read: each device's shares of its model version's
 * Redis windows over the span (counts, errors, latency, energy), and its last window's temperature
 * and memory from the live view. Nothing is kept in the controller's memory; the span is rounded
 * out to whole buckets.
 */
export class WindowTelemetryReader implements TelemetryReader {
  constructor(
    private readonly windows: WindowStore,
    private readonly live: LiveStore,
    private readonly clock: Clock,
  ) {}

  async devices(ids: readonly string[], sinceMs: number): Promise<Map<string, DeviceTelemetry>> {
    const out = new Map<string, DeviceTelemetry>()
    if (ids.length === 0) return out
    const views = await this.live.views(ids)
    const byCohort = new Map<string, string[]>()
    ids.forEach((id, i) => {
      const model = views[i]?.telemetry?.model
      if (model != null) byCohort.set(model, [...(byCohort.get(model) ?? []), id])
    })
    const now = this.clock.now()
    const from = this.windows.bucketOf(now - sinceMs)
    const to = this.windows.bucketOf(now)
    const sums = new Map<string, { windows: number; inferences: number; errors: number; ls: number; lc: number; j: number; ms: number }>()
    for (const [cohort, members] of byCohort) {
      for (const shares of (await this.windows.sharesOf(cohort, from, to, members)).values()) {
        for (const s of shares) {
          const t = sums.get(s.deviceId) ?? { windows: 0, inferences: 0, errors: 0, ls: 0, lc: 0, j: 0, ms: 0 }
          t.windows += s.windows
          t.inferences += s.inferences
          t.errors += s.errors
          t.ls += s.latencySum
          t.lc += s.latencyCount
          t.j += s.energyJoules
          t.ms += s.energyMs
          sums.set(s.deviceId, t)
        }
      }
    }
    ids.forEach((id, i) => {
      const t = sums.get(id)
      if (t === undefined || t.windows === 0) return
      const last = views[i]?.telemetry ?? null
      const used = last?.memoryUsedBytes ?? null
      const total = last?.memoryTotalBytes ?? null
      out.set(id, {
        windows: t.windows,
        inferences: t.inferences,
        errors: t.errors,
        errorRate: errorRate(t),
        latencyAvgMs: t.lc === 0 ? null : t.ls / t.lc,
        powerAvgMw: averagePowerMw(t.j, t.ms),
        temperatureC: last?.temperatureC ?? null,
        memoryShare: used === null || total === null || total === 0 ? null : used / total,
        memoryUsedBytes: used,
      })
    })
    return out
  }
}
