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

/**
 * A target is a label selector, a registered device id or a named group; a bare word is read as the
 * registry reads it (group, device id, a label value unique across keys).
 * @throws {FleetError} `ROLLOUT_NO_DEVICES` when nothing matches, `REGISTRY_INVALID_SELECTOR`, `REGISTRY_TARGET_AMBIGUOUS`
 */
export async function resolveTarget(registry: Registry, live: LiveStore, target: string): Promise<TargetDevice[]> {
  const records = (await registry.resolve(target.trim())).devices
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
