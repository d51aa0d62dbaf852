import type { FleetEventBody, ModelRef } from '@liquid-edge/protocol'
import type { ModelSummary, Outcome } from './types.js'

/** What a tick asks the executor to do. Every effect is idempotent. */
export type Effect =
  /** Issue a new generation (once per device and rollout) and publish the retained desired state. */
  | { type: 'dispatch'; deviceId: string; step: number; model: ModelRef; from: ModelSummary | null }
  /** Publish again the desired state of a dispatch whose publish may have been lost (crash). */
  | { type: 'publish'; deviceId: string }
  /** Roll back through the device's standby slot (`rollback` command, `to: previous`). */
  | { type: 'rollback-command'; deviceId: string; step: number; to: ModelSummary; from: ModelSummary | null }
  /** Record that the device needs nothing (already runs the model). */
  | { type: 'skip'; deviceId: string; step: number; model: ModelSummary }
  | { type: 'outcome'; deviceId: string; outcome: Outcome; error: string | null }
  /** Blue-green: send `switch`. */
  | { type: 'switch'; deviceId: string }
  | { type: 'switched'; deviceId: string; result: 'done' | 'failed' }
  /** Abort: send pending devices back to the model they ran. */
  | { type: 'revert'; deviceId: string; to: ModelSummary; reason: string }
  /** A tripped gate with `onFailure: rollback`. */
  | { type: 'rollback-rollout'; reason: string }
  /** Release the device locks of a finished rollout. */
  | { type: 'release' }
  | { type: 'event'; event: FleetEventBody['event']; message: string; severity: FleetEventBody['severity']; step?: number }
