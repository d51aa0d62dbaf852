import type { CommandResult } from '@liquid-edge/protocol'
import { commonReasons, type ReportBase } from '../report.js'
import type { LogsRequest } from '../requests.js'
import { offlineIds, resolveTarget } from '../target.js'
import { baseReport } from '../report.js'
import type { RunbookContext } from './context.js'

type LogsResult = Extract<CommandResult, { kind: 'logs' }>
type Line = LogsResult['lines'][number]

export interface LogsReport extends ReportBase {
  lines: (Line & { deviceId: string })[]
}

/**
 * `logs`: recent lines of the target's devices; with `follow`, further lines stream (as `log` lines)
 * until `followMs` passes or the client goes away.
 */
export async function logs(ctx: RunbookContext, req: LogsRequest): Promise<LogsReport> {
  const startedAt = ctx.clock.now()
  const devices = await resolveTarget(ctx.registry, ctx.live, req.target)
  const lines: LogsReport['lines'] = []
  const push = (deviceId: string, result: CommandResult): void => {
    if (result.kind !== 'logs') return
    for (const l of result.lines) {
      lines.push({ deviceId, ...l })
      ctx.emit?.({ type: 'log', deviceId, ...l })
    }
  }
  const timeoutMs = req.follow ? Math.max(req.timeoutMs, req.followMs + 5000) : req.timeoutMs
  const run = await ctx.fanout.run<LogsResult>({
    deviceIds: devices.map((d) => d.id),
    body: { kind: 'logs', lines: req.lines, follow: req.follow, followMs: req.followMs, expiresAt: 0 },
    timeoutMs,
    offline: offlineIds(devices),
    onPart: (deviceId, result) => {
      push(deviceId, result)
    },
    ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
  })
  for (const a of run.answers) if (a.result !== null) push(a.deviceId, a.result)
  const base = baseReport('logs', req.target, devices, run, startedAt, ctx.clock.now())
  return { ...base, lines, ...commonReasons(base, req).judgement() }
}
