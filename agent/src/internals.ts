import type { DeviceEventBody, PackageManifest, TelemetryBody } from '@liquid-edge/protocol'
import type { KeyObject } from 'node:crypto'
import type { AgentLog } from './log/agent-log.js'
import type { ArtifactFetcher, Clock, DeviceDriver, InferenceResult, SensorReadings, SlotName, StateStore } from './ports.js'
import type { AgentStateView } from './state/agent-state.js'

/** What the agent's parts (updater, trial, commands) read and use. Not public API. */
export interface AgentInternals {
  readonly deviceId: string
  readonly driver: DeviceDriver
  readonly clock: Clock
  readonly log: AgentLog
  readonly store: StateStore
  readonly fetcher: ArtifactFetcher
  readonly publisherKeys: readonly KeyObject[]
  readonly stateDir: string
  readonly agentVersion: string
  readonly startedAt: number
  /** Slot, trial and update state: read only here; it changes by events sent to the lifecycle (`update/updater.ts`). */
  readonly state: AgentStateView
  /** The last telemetry window closed: what the device's workload looks like. */
  readonly lastWindow: TelemetryBody | null
  /** Manifests of the resident slots. */
  readonly manifests: Readonly<Record<SlotName, PackageManifest | null>>
  /** Publish a device event now, or when the connection returns. */
  event(body: DeviceEventBody): void
  /** Run one inference on a slot without counting it as application traffic. */
  probe(input: Float32Array, slot: SlotName): Promise<InferenceResult>
  /** True while an update (download … self-test) holds the slots. */
  busy(): boolean
  /** Resolves when no application inference is in flight: measurements wait for them (they keep priority). */
  whenIdle(): Promise<void>
  /** Count an evaluation on the package's labelled set in the current telemetry window. */
  recordEvaluation(samples: number, correct: number): void
  /** Read the driver's sensors (`null` when they cannot be read); a power reading counts in the telemetry window. */
  readSensors(): Promise<SensorReadings | null>
}
