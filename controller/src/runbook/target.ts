import { FleetError } from '@liquid-edge/protocol'
import type { LiveStore } from '../registry/live.js'
import { slotOf } from '../registry/live.js'
import type { Registry } from '../registry/registry.js'

/** A device of a runbook target, with what the controller knows about it right now. */
export interface TargetDevice {
  id: string
  labels: Record<string, string>
  /** The hardware class: what the device reports, else its `hw` label, else `unknown`. */
  hardware: string
  online: boolean | null
  /** Last time anything was heard from the device (status, reported or telemetry), epoch ms. */
  lastSeenAt: number | null
  /** The active model as `name@version`. */
  model: string | null
  agentVersion: string | null
  phase: string | null
}

const DEVICE_ID = /^[A-Za-z0-9._-]{1,64}$/

/**
 * A target is a registered device id or a label selector (`env=production,hw in (a,b)`, or a group
 * word such as `stm32h743`). A device id wins over a group word of the same spelling.
 * @throws {FleetError} `ROLLOUT_NO_DEVICES` when nothing matches, `REGISTRY_INVALID_SELECTOR`
 */
export async function resolveTarget(registry: Registry, live: LiveStore, target: string): Promise<TargetDevice[]> {
  const trimmed = target.trim()
  let records = DEVICE_ID.test(trimmed)
    ? await registry.get(trimmed).then(
        (d) => [d],
        () => null,
      )
    : null
  records ??= await registry.list(trimmed)
  if (records.length === 0) throw new FleetError('ROLLOUT_NO_DEVICES', `the target '${target}' selects no registered devices`)
  const views = await live.views(records.map((r) => r.id))
  return records.map((r, i) => {
    const v = views[i]
    const rep = v?.reported ?? null
    const seen = [v?.status?.ts, rep?.ts, v?.lastTelemetryAt].filter((x): x is number => typeof x === 'number')
    const model = slotOf(rep, 'active', 'trial')
    return {
      id: r.id,
      labels: { ...r.labels },
      hardware: rep?.hardware ?? r.labels.hw ?? 'unknown',
      online: v?.status?.online ?? null,
      lastSeenAt: seen.length === 0 ? null : Math.max(...seen),
      model: model === null ? null : `${model.name}@${model.version}`,
      agentVersion: rep?.agentVersion ?? null,
      phase: rep?.phase ?? null,
    }
  })
}

/** Ids of devices the live view says are offline. */
export function offlineIds(devices: readonly TargetDevice[]): Set<string> {
  return new Set(devices.filter((d) => d.online === false).map((d) => d.id))
}
