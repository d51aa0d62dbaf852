import { commonReasons, verdictOf, type ReportBase } from '../report.js'
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
  problems: string[]
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
  const now = ctx.clock.now()
  const results: DeviceHealth[] = devices.map((d) => {
    const t = ctx.telemetry.device(d.id, req.windowMs)
    const age = d.lastSeenAt === null ? null : Math.max(0, now - d.lastSeenAt)
    const state = d.online === false ? 'offline' : d.online === null ? 'unknown' : age !== null && age > req.staleMs ? 'stale' : 'online'
    const problems: string[] = []
    if (state !== 'online') problems.push(state === 'stale' ? `not heard from for ${Math.round((age ?? 0) / 1000)} s` : state)
    if (t?.errorRate != null && t.errorRate > req.maxErrorRate)
      problems.push(`error rate ${round(t.errorRate * 100, 1)}% > ${req.maxErrorRate * 100}%`)
    if (t?.temperatureC != null && t.temperatureC > req.maxTemperatureC)
      problems.push(`temperature ${t.temperatureC} °C > ${req.maxTemperatureC} °C`)
    if (t?.memoryShare != null && t.memoryShare > req.maxMemoryShare)
      problems.push(`memory ${round(t.memoryShare * 100, 1)}% > ${req.maxMemoryShare * 100}%`)
    if (d.phase === 'failed' || d.phase === 'reverted') problems.push(`phase ${d.phase}`)
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
  const { fail, note } = commonReasons(base, req)
  for (const r of results) {
    const own = r.problems.filter((p) => !['offline', 'unknown'].includes(p) && !p.startsWith('not heard'))
    if (own.length > 0) fail.push(`${r.deviceId}: ${own.join(', ')}`)
  }
  const silent = results.filter((r) => r.state === 'online' && r.inferences === null).map((r) => r.deviceId)
  if (silent.length > 0)
    note.push(
      `no telemetry in the window from ${silent.join(', ')}: error rate, temperature and memory unknown (not counted as healthy figures)`,
    )
  const models = count(results.map((r) => r.model))
  if (Object.keys(models).length > 1)
    note.push(
      `version mix: ${Object.entries(models)
        .map(([m, n]) => `${m} ×${n}`)
        .join(', ')}`,
    )
  return {
    ...base,
    online: results.filter((r) => r.state === 'online').length,
    offline: results.filter((r) => r.state === 'offline').length,
    stale: results.filter((r) => r.state === 'stale').length,
    versions: { models, agents: count(results.map((r) => r.agentVersion)) },
    results,
    verdict: verdictOf(fail),
    reasons: [...fail, ...note],
  }
}
