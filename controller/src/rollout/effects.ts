import type { DeviceAccount, FleetEventBody, ModelRef } from '@liquid-edge/protocol'
import type { ModelSummary, Outcome, Route } from './types.js'

/** What a tick asks the executor to do. Every effect is idempotent. */
export type Effect =
  /**
   * Issue a new generation (once per device and rollout) and publish the retained desired state:
   * `model` null = no model; `note` says why a fallback (it becomes the state's reason).
   */
  | {
      type: 'dispatch'
      deviceId: string
      step: number
      model: ModelRef | null
      from: ModelSummary | null
      route: Route
      note: string | null
    }
  /** Publish again the desired state of a dispatch whose publish may have been lost (crash). */
  | { type: 'publish'; deviceId: string }
  /** Roll back through the device's standby slot (`rollback` command, `to: previous`). */
  | { type: 'rollback-command'; deviceId: string; step: number; to: ModelSummary; from: ModelSummary | null }
  /** The device never left `model`: withdraw the release's retained desired state (rollbacks). */
  | { type: 'withdraw'; deviceId: string; step: number; model: ModelSummary }
  /** Record that the device needs nothing (already runs the model). */
  | { type: 'skip'; deviceId: string; step: number; model: ModelSummary }
  | { type: 'outcome'; deviceId: string; outcome: Outcome; error: string | null }
  /** Blue-green: send `switch`. */
  | { type: 'switch'; deviceId: string }
  | { type: 'switched'; deviceId: string; result: 'done' | 'failed' }
  /** Abort, superseded or a rules revert: send the device back (previous model, else the policy's fallback). */
  | { type: 'revert'; deviceId: string; reason: string }
  /** A tripped gate with `onFailure: rollback`. */
  | { type: 'rollback-rollout'; reason: string }
  /** Release the device locks of a finished rollout. */
  | { type: 'release' }
  | {
      type: 'event'
      event: FleetEventBody['event']
      message: string
      severity: FleetEventBody['severity']
      step?: number
      devices?: DeviceAccount[]
      /** The rollout the event is about, when not this one (a rollback reports to the rollout it rolls back). */
      about?: string
    }
