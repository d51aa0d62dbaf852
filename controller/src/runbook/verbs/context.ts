import type { CommandInput, CommandResult } from '@liquid-edge/protocol'
import type { Clock } from '../../clock.js'
import type { ModelStore } from '../../models/model-store.js'
import type { LiveStore } from '../../registry/live.js'
import type { Registry } from '../../registry/registry.js'
import type { CommandFanout, DeviceAnswer, FanoutResult } from '../fanout.js'
import { baseReport, type ReportBase, type StreamLine } from '../report.js'
import { offlineIds, resolveTarget, type TargetDevice } from '../target.js'
import type { TelemetryReader } from '../tracker.js'

/** What every verb works with. */
export interface RunbookContext {
  registry: Registry
  live: LiveStore
  models: ModelStore
  fanout: CommandFanout
  telemetry: TelemetryReader
  clock: Clock
  /** Progress and streamed lines for the client (optional). */
  emit?: (line: StreamLine) => void
  signal?: AbortSignal
}

export interface Fanned<R extends CommandResult> {
  devices: TargetDevice[]
  run: FanoutResult<R>
  base: Omit<ReportBase, 'verdict' | 'reasons'>
  /** Answers that carried a result, with their device. */
  ok: { device: TargetDevice; answer: DeviceAnswer<R>; result: R }[]
}

/** Resolve the target, fan a command out to it with progress, and gather the common report part. */
export async function fanOut<R extends CommandResult>(
  ctx: RunbookContext,
  verb: string,
  req: { target: string; timeoutMs: number },
  body: CommandInput | ((deviceId: string) => CommandInput),
): Promise<Fanned<R>> {
  const startedAt = ctx.clock.now()
  const devices = await resolveTarget(ctx.registry, ctx.live, req.target)
  const run = await ctx.fanout.run<R>({
    deviceIds: devices.map((d) => d.id),
    body,
    timeoutMs: req.timeoutMs,
    offline: offlineIds(devices),
    onAnswer: (a, done, total) => ctx.emit?.({ type: 'progress', deviceId: a.deviceId, status: a.status, done, total }),
    onPart: (deviceId, result) => {
      const samples =
        result.kind === 'profile'
          ? (result.latencyMs ?? result.quantiles)?.samples
          : result.kind === 'evaluate'
            ? result.samples
            : undefined
      if (samples !== undefined)
        ctx.emit?.({ type: 'partial', deviceId, elapsedMs: result.kind === 'profile' ? (result.elapsedMs ?? 0) : 0, samples })
    },
    ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
  })
  const byId = new Map(devices.map((d) => [d.id, d]))
  const ok = run.answers.flatMap((answer) => {
    const device = byId.get(answer.deviceId)
    return answer.result !== null && device !== undefined ? [{ device, answer, result: answer.result }] : []
  })
  return { devices, run, base: baseReport(verb, req.target, devices, run, startedAt, ctx.clock.now()), ok }
}

/** The manifest of `name@version` from the model store, or null when the store does not have it. */
export async function manifestOf(models: ModelStore, model: string | null) {
  if (model === null) return null
  const at = model.lastIndexOf('@')
  const rec = await models.find(model.slice(0, at), model.slice(at + 1)).catch(() => null)
  return rec?.manifest ?? null
}

/** The model a device runs: the live view, else `<name of the live view>@<version the device just reported>`. */
export function modelOf(device: { model: string | null }, version: string | null): string | null {
  if (version === null) return device.model
  const name = device.model === null ? null : device.model.slice(0, device.model.lastIndexOf('@'))
  return name === null ? null : `${name}@${version}`
}
