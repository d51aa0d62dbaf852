import type { Phase } from '@liquid-edge/protocol'
import type { DeviceProgress, ModelSummary, PlanEntry } from './types.js'

/** What the device last reported, reduced to what a rollout judges. */
export interface ReportedView {
  generation: number
  phase: Phase
  active: ModelSummary | null
  staged: ModelSummary | null
  /** The model in the standby slot as `previous` (a way back by command). */
  previous: ModelSummary | null
  error: string | null
}

/** One device as a tick sees it. */
export interface DeviceObservation {
  id: string
  bucket: number
  stratum: string
  /** In the rollout's target right now (devices that left it keep their progress). */
  inTarget: boolean
  progress: DeviceProgress | null
  reported: ReportedView | null
  /** Its retained status: online, offline, or `null` when never seen. */
  online: boolean | null
  /** Another active rollout owns this device. */
  lockedByOther: boolean
  /** The model sha the device runs or was last told to run. */
  currentSha: string | null
  /** The rollout that wrote the device's current desired state (null: none, or written by hand). */
  desiredBy: string | null
  /** Rollbacks: where this device goes back to. */
  plan: PlanEntry | null
  /** The hardware class it reports (`unknown` before it has reported one). */
  hardware: string
}

/** The hardware class of a device that has not reported one. */
export const UNKNOWN_CLASS = 'unknown'

/**
 * An external verdict on a rollout. The seam for telemetry rules: rule evaluation jobs
 * produce signals, and `step` acts on them like on any other observation.
 */
export type Signal =
  | { action: 'pause' | 'rollback'; reason: string }
  /** Send these devices back to the model they ran before the rollout (crashed, unresponsive). */
  | { action: 'revert-devices'; deviceIds: string[]; reason: string }
  /**
   * A rule judged for one hardware class broke: that class's devices go back like `revert-devices`,
   * and the class gets no more devices of this release, while the other classes go on.
   */
  | { action: 'revert-class'; hardware: string; reason: string }

export interface Observations {
  devices: DeviceObservation[]
  signals: Signal[]
}
