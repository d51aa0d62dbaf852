import * as z from 'zod'
import {
  CountSchema,
  DesiredBodySchema,
  EpochMsSchema,
  ErrorPayloadSchema,
  MessageIdSchema,
  ModelRefSchema,
  PhaseSchema,
  PolicySchema,
  type ReportedBody,
  type Slot,
} from '@liquid-edge/protocol'
import type { SlotName } from '../ports.js'
import type { StateStore } from '../ports.js'

/** A model resident in a slot: its package is kept in the state store as `slot-<slot>.liquid`. */
const SlotRecordSchema = z.object({
  name: z.string(),
  version: z.string(),
  sha256: z.string(),
  size: CountSchema,
})
export type SlotRecord = z.infer<typeof SlotRecordSchema>

const TrialSchema = z.object({
  slot: z.enum(['a', 'b']),
  previous: z.enum(['a', 'b']).nullable(),
  generation: CountSchema,
  startedAt: EpochMsSchema,
  endsAt: EpochMsSchema,
  policy: PolicySchema,
})
export type TrialRecord = z.infer<typeof TrialSchema>

/** Everything the agent must find again after a power cut. */
export const AgentStateSchema = z.object({
  format: z.literal(1),
  /** Connection session number; grows with every connection attempt. */
  session: CountSchema,
  /** The generation last acted on (applied, staged, failed or reverted). */
  generation: CountSchema,
  rolloutId: MessageIdSchema.nullable(),
  phase: PhaseSchema,
  error: ErrorPayloadSchema.nullable(),
  /** Why the device runs no model (the reason of the desired state that unloaded it), reported back. */
  reason: ErrorPayloadSchema.nullable().default(null),
  slots: z.object({ a: SlotRecordSchema.nullable(), b: SlotRecordSchema.nullable() }),
  active: z.enum(['a', 'b']).nullable(),
  /** Role of the slot that is not active. */
  standby: z.enum(['previous', 'staged']).nullable(),
  trial: TrialSchema.nullable(),
  /** The policy of the staged candidate (blue-green), used when `switch` activates it. */
  stagedGeneration: CountSchema.nullable(),
  /** The desired model being worked on (download/verify/stage), for reports after a restart. */
  pending: DesiredBodySchema.nullable(),
  /**
   * An operator rollback fetching a version that is not resident, and the phase to return to when
   * it is done. Cleared at start: the command it answered is gone with the process.
   */
  rollbackFetch: z.object({ model: ModelRefSchema, phase: PhaseSchema, error: ErrorPayloadSchema.nullable() }).nullable().default(null),
  telemetrySeq: CountSchema,
  /**
   * True while an agent runs on this state. Still true when the next agent starts means the last
   * one never closed — a crash, a kill or a power cut — and the device reports `crashed`.
   */
  running: z.boolean().default(false),
})
export type AgentState = z.infer<typeof AgentStateSchema>
/** The state as the agent's parts read it: only the lifecycle (`update/lifecycle.ts`) makes a new one. */
export type AgentStateView = { readonly [K in keyof AgentState]: Readonly<AgentState[K]> }

export const STATE_FILE = 'agent-state.json'

export function initialState(): AgentState {
  return {
    format: 1,
    session: 0,
    generation: 0,
    rolloutId: null,
    phase: 'idle',
    error: null,
    reason: null,
    slots: { a: null, b: null },
    active: null,
    standby: null,
    trial: null,
    stagedGeneration: null,
    pending: null,
    rollbackFetch: null,
    telemetrySeq: 0,
    running: false,
  }
}

export function otherSlot(slot: SlotName): SlotName {
  return slot === 'a' ? 'b' : 'a'
}

/** The slot an update stages into: the one that is not active (`a` on an empty device). */
export function standbySlot(state: AgentStateView): SlotName {
  return state.active === null ? 'a' : otherSlot(state.active)
}

/** The slots as `reported` lists them. */
export function reportedSlots(state: AgentStateView): Slot[] {
  const out: Slot[] = []
  for (const slot of ['a', 'b'] as const) {
    const rec = state.slots[slot]
    if (rec === null) continue
    let role: Slot['role']
    if (slot === state.active) role = state.trial?.slot === slot ? 'trial' : 'active'
    else if (state.standby === null) continue
    else role = state.standby
    out.push({ slot, role, model: { name: rec.name, version: rec.version, sha256: rec.sha256 } })
  }
  return out
}

export function reportedBody(state: AgentStateView, info: { agentVersion: string; hardware: string; progress?: number }): ReportedBody {
  return {
    generation: state.pending?.generation ?? state.generation,
    rolloutId: state.pending?.rolloutId ?? state.rolloutId,
    phase: state.phase,
    slots: reportedSlots(state),
    error: state.error,
    reason: state.reason,
    agentVersion: info.agentVersion,
    hardware: info.hardware,
    ...(info.progress === undefined ? {} : { progress: info.progress }),
  }
}

/** True when `a` and `b` give the same `reported` body (states are never changed in place: fields compare by identity). */
export function sameReport(a: AgentStateView, b: AgentStateView): boolean {
  return (
    a.phase === b.phase &&
    a.error === b.error &&
    a.reason === b.reason &&
    a.generation === b.generation &&
    a.rolloutId === b.rolloutId &&
    a.pending === b.pending &&
    a.slots.a === b.slots.a &&
    a.slots.b === b.slots.b &&
    a.active === b.active &&
    a.standby === b.standby &&
    a.trial?.slot === b.trial?.slot
  )
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** Load the state, or a fresh one when there is none. A corrupt file is a `FleetError` (`AGENT_INTERNAL`). */
export async function loadState(store: StateStore): Promise<AgentState | null> {
  const bytes = await store.read(STATE_FILE)
  if (bytes === null) return null
  const parsed = AgentStateSchema.safeParse(JSON.parse(decoder.decode(bytes)))
  if (!parsed.success) throw new Error(`state file is invalid: ${z.prettifyError(parsed.error)}`)
  return parsed.data
}

export function saveState(store: StateStore, state: AgentStateView): Promise<void> {
  return store.write(STATE_FILE, encoder.encode(JSON.stringify(state)))
}
