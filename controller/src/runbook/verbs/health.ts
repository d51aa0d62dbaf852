import { reason, type Reason } from '@liquid-edge/protocol'
import { commonReasons, type ReportBase } from '../report.js'
import type { HealthRequest } from '../requests.js'
import { resolveTarget } from '../target.js'
import { round } from '../stats.js'
import type { RunbookContext } from './context.js'

export interface DeviceHealth {
  deviceId: string
  hardware: string
  state: 'online' | 'offline' | 'stale' | 'unknown'
  lastSeenAgeMs: number | null
  model: string | null
  agentVersion: string | null
  phase: string | null
  inferences: number | null
  errorRate: number | null
  temperatureC: number | null
  memoryShare: number | null
  /** What is wrong with the device, as reason codes (`HEALTH_`) with their figures. */
  problems: Reason[]
}

export interface HealthReport extends ReportBase {
  online: number
  offline: number
  stale: number
  versions: { models: Record<string, number>; agents: Record<string, number> }
  results: DeviceHealth[]
}

function count(values: readonly (string | null)[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const v of values) out[v ?? 'none'] = (out[v ?? 'none'] ?? 0) + 1
  return out
}

/**
 * `health`: the registry's live view (online/offline, last seen, versions) and each device's recent
 * telemetry (error rate, temperature, memory). No command is sent; a silent device is stale, not healthy.
 */
export async function health(ctx: RunbookContext, req: HealthRequest): Promise<HealthReport> {
  const startedAt = ctx.clock.now()
  const devices = await resolveTarget(ctx.registry, ctx.live, req.target)
  const recent = await ctx.telemetry.devices(
    devices.map((d) => d.id),
    req.windowMs,
  )
  const now = ctx.clock.now()
  const results: DeviceHealth[] = devices.map((d) => {
    const t = recent.get(d.id)
    const age = d.lastSeenAt === null ? null : Math.max(0, now - d.lastSeenAt)
    const state = d.online === false ? 'offline' : d.online === null ? 'unknown' : age !== null && age > req.staleMs ? 'stale' : 'online'
    const problems: Reason[] = []
    const problem = (code: Parameters<typeof reason>[0], values: Parameters<typeof reason>[2] = {}): void => {
      problems.push(reason(code, 'fail', values, d.id))
    }
    if (state === 'offline') problem('HEALTH_OFFLINE')
    if (state === 'unknown') problem('HEALTH_UNKNOWN')
    if (state === 'stale') problem('HEALTH_STALE', { ageS: Math.round((age ?? 0) / 1000) })
    if (t?.errorRate != null && t.errorRate > req.maxErrorRate)
      problem('HEALTH_ERROR_RATE', { errorRatePct: round(t.errorRate * 100, 1), maxPct: req.maxErrorRate * 100 })
    if (t?.temperatureC != null && t.temperatureC > req.maxTemperatureC)
      problem('HEALTH_TEMPERATURE', { temperatureC: t.temperatureC, maxC: req.maxTemperatureC })
    if (t?.memoryShare != null && t.memoryShare > req.maxMemoryShare)
      problem('HEALTH_MEMORY', { memoryPct: round(t.memoryShare * 100, 1), maxPct: req.maxMemoryShare * 100 })
    if (d.phase === 'failed' || d.phase === 'reverted') problem('HEALTH_PHASE', { phase: d.phase })
    ctx.emit?.({ type: 'progress', deviceId: d.id, status: problems.length === 0 ? 'ok' : 'error', done: 0, total: devices.length })
    return {
      deviceId: d.id,
      hardware: d.hardware,
      state,
      lastSeenAgeMs: age,
      model: d.model,
      agentVersion: d.agentVersion,
      phase: d.phase,
      inferences: t?.inferences ?? null,
      errorRate: round(t?.errorRate ?? null),
      temperatureC: t?.temperatureC ?? null,
      memoryShare: round(t?.memoryShare ?? null),
      problems,
    }
  })
  const unreachable = results
    .filter((r) => r.state !== 'online')
    .map((r) => ({ deviceId: r.deviceId, hardware: r.hardware, reason: r.state }))
  const base = {
    verb: 'health',
    target: req.target,
    startedAt,
    finishedAt: ctx.clock.now(),
    devices: devices.length,
    answered: devices.length - unreachable.length,
    unreachable,
    errors: [],
    partial: unreachable.length > 0,
  }
  const reasons = commonReasons(base, req)
  // Offline, unknown and stale devices are counted as unreachable above; the rest of each device's problems fail here.
  const REACHABILITY = new Set(['HEALTH_OFFLINE', 'HEALTH_UNKNOWN', 'HEALTH_STALE'])
  for (const r of results) {
    const own = r.problems.filter((p) => !REACHABILITY.has(p.code))
    if (own.length > 0)
      reasons.fail('VERDICT_HEALTH_PROBLEMS', { codes: own.map((p) => p.code), details: own.map((p) => p.text) }, r.deviceId)
  }
  const silent = results.filter((r) => r.state === 'online' && r.inferences === null).map((r) => r.deviceId)
  if (silent.length > 0) reasons.note('VERDICT_SILENT', { list: silent })
  const models = count(results.map((r) => r.model))
  if (Object.keys(models).length > 1) reasons.note('VERDICT_VERSION_MIX', { list: Object.entries(models).map(([m, n]) => `${m} ×${n}`) })
  return {
    ...base,
    online: results.filter((r) => r.state === 'online').length,
    offline: results.filter((r) => r.state === 'offline').length,
    stale: results.filter((r) => r.state === 'stale').length,
    versions: { models, agents: count(results.map((r) => r.agentVersion)) },
    results,
    ...reasons.judgement(),
  }
}
