import { FleetError, type CommandOf, type CommandResult } from '@liquid-edge/protocol'
import type { AgentInternals } from '../internals.js'
import type { SlotName } from '../ports.js'
import { otherSlot, reportedSlots } from '../state/agent-state.js'
import type { Reconciler } from '../update/reconciler.js'
import { freeSlot } from '../update/slots.js'

function activeVersion(ai: AgentInternals): string {
  const rec = ai.state.active === null ? null : ai.state.slots[ai.state.active]
  if (rec === null) throw new FleetError('AGENT_NO_MODEL', 'no model is active on this device')
  return rec.version
}

/** Make `slot` the active one now (operator command: no trial); the old active becomes `previous`. */
async function makeActive(ai: AgentInternals, reconciler: Reconciler, slot: SlotName): Promise<void> {
  const s = ai.state
  if (reconciler.trial.running || s.trial !== null) reconciler.trial.cancel()
  const old = s.active
  s.active = slot
  s.reason = null
  s.standby = old !== null && old !== slot && s.slots[old] !== null ? 'previous' : null
  // The new slots and the phase are stored and reported together: no report with one without the other.
  await ai.setPhase('active', null)
  await ai.driver.activate(slot)
}

function refuseWhileBusy(reconciler: Reconciler): void {
  if (reconciler.busy) throw new FleetError('AGENT_BUSY', 'an update is in progress; retry when it has finished', { retryable: true })
}

/** rollback: to the previous model (standby slot, no download) or to a named resident version. */
export async function rollback(ai: AgentInternals, reconciler: Reconciler, cmd: CommandOf<'rollback'>): Promise<CommandResult> {
  refuseWhileBusy(reconciler)
  const s = ai.state
  let target: SlotName | null = null
  if (cmd.to.to === 'previous') {
    const standby = s.active === null ? null : otherSlot(s.active)
    if (standby !== null && s.slots[standby] !== null && (s.standby === 'previous' || s.trial !== null)) target = standby
    if (target === null) throw new FleetError('AGENT_NO_PREVIOUS_MODEL', 'there is no previous model in the standby slot')
  } else {
    const version = cmd.to.version
    if (s.active !== null && s.slots[s.active]?.version === version && s.trial === null) {
      return { kind: 'rollback', activeVersion: version, slots: reportedSlots(s), changed: false }
    }
    for (const slot of ['a', 'b'] as const) if (slot !== s.active && s.slots[slot]?.version === version) target = slot
    if (target === null && cmd.to.model !== undefined) {
      if (cmd.to.model.version !== version) {
        throw new FleetError('AGENT_PACKAGE_INVALID', `the model given is ${cmd.to.model.version}, not ${version}`)
      }
      target = await reconciler.stageForRollback(cmd.to.model)
    }
    if (target === null) {
      throw new FleetError('AGENT_NO_PREVIOUS_MODEL', `version ${version} is not resident on this device and no model to fetch was given`)
    }
  }
  if (s.trial !== null && s.trial.previous === target) {
    await reconciler.trial.revert(new FleetError('AGENT_TRIAL_INTERRUPTED', 'an operator rollback ended the trial'))
  } else {
    await makeActive(ai, reconciler, target)
  }
  ai.log.write('info', 'rolled back', { to: activeVersion(ai) })
  return { kind: 'rollback', activeVersion: activeVersion(ai), slots: reportedSlots(s), changed: true }
}

/** switch: make the staged blue-green candidate active. */
export async function switchSlots(ai: AgentInternals, reconciler: Reconciler): Promise<CommandResult> {
  refuseWhileBusy(reconciler)
  const s = ai.state
  const staged = s.active === null ? 'a' : otherSlot(s.active)
  if (s.standby !== 'staged' || s.slots[staged] === null) {
    if (s.active !== null && s.standby !== 'staged' && s.stagedGeneration !== null && s.generation === s.stagedGeneration) {
      return { kind: 'switch', activeVersion: activeVersion(ai), slots: reportedSlots(s), changed: false }
    }
    throw new FleetError('AGENT_NO_STAGED_MODEL', 'there is no staged candidate to switch to')
  }
  await makeActive(ai, reconciler, staged)
  ai.log.write('info', 'switched to the staged model', { to: activeVersion(ai) })
  return { kind: 'switch', activeVersion: activeVersion(ai), slots: reportedSlots(s), changed: true }
}

/** decommission: free the slot of the model that is no longer active. */
export async function decommission(ai: AgentInternals, reconciler: Reconciler): Promise<CommandResult> {
  refuseWhileBusy(reconciler)
  const s = ai.state
  if (s.trial !== null)
    throw new FleetError('AGENT_BUSY', 'a trial is running; the previous model is its revert target', { retryable: true })
  let freedBytes = 0
  if (s.active !== null && s.standby === 'previous') {
    freedBytes = await freeSlot(ai, otherSlot(s.active))
    await ai.commit()
  }
  return { kind: 'decommission', slots: reportedSlots(s), freedBytes }
}
