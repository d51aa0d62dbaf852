import type { Decoded } from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'
import type { Reconciliation } from '../desired/reconciliation.js'
import type { LiveStore } from '../registry/live.js'
import type { StatusTrust } from '../registry/status-trust.js'
import type { RolloutEngine } from '../rollout/engine.js'
import type { LateOutcomes } from '../rollout/late-outcomes.js'

/** What ingesting a device message moves. */
export interface IngestDeps {
  live: LiveStore
  late: LateOutcomes
  statuses: StatusTrust
  reconciliation: Reconciliation
  engine: RolloutEngine
  clock: Clock
}

/** A device's status folded in (or held: see StatusTrust); an online one it is believed about starts its reconciliation. */
async function onStatus(o: IngestDeps, msg: Extract<Decoded['message'], { type: 'status' }>): Promise<void> {
  const outcome = await o.statuses.status(msg.deviceId, msg.body, msg.ts)
  if ((outcome === 'applied' || outcome === 'regressed') && msg.body.online) await o.reconciliation.reconciler.deviceOnline(msg.deviceId)
}

/** The device reported its state: a status held for it may now be believed. */
async function confirmStatus(o: IngestDeps, deviceId: string, ts: number): Promise<void> {
  const confirmed = await o.statuses.reported(deviceId, ts)
  if (confirmed?.online === true) await o.reconciliation.reconciler.deviceOnline(deviceId)
}

/**
 * What the controller does with each status, reported and reply message: the live view, rollout nudges, late
 * outcomes, reconciliation of devices that came online, and answered rollout commands.
 */
export function ingest(o: IngestDeps) {
  return async (m: Decoded): Promise<void> => {
    const msg = m.message
    if (msg.type === 'status') await onStatus(o, msg)
    // Telemetry reaches the live view through the telemetry ingest's batches.
    else if (msg.type === 'reported') {
      const body = msg.body
      const applied = await o.live.applyReported(msg.deviceId, body, msg.ts)
      await confirmStatus(o, msg.deviceId, msg.ts)
      if (!applied || body.rolloutId === null) return
      await o.engine.nudge(body.rolloutId)
      await o.late.onReported(body.rolloutId, msg.deviceId)
    } else if (msg.type === 'reply' && msg.body.final) await o.reconciliation.commands.answered(msg.deviceId, msg.body.commandId)
  }
}
