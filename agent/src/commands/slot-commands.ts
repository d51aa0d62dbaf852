import { FleetError, type CommandOf, type CommandResult } from '@liquid-edge/protocol'
import type { AgentLog } from '../log/agent-log.js'
import type { SlotName } from '../ports.js'
import { otherSlot, reportedSlots, standbySlot, type AgentStateView } from '../state/agent-state.js'
import { updating } from '../update/lifecycle.js'
import type { SlotControl } from '../update/updater.js'

function activeVersion(s: AgentStateView): string {
  const rec = s.active === null ? null : s.slots[s.active]
  if (rec === null) throw new FleetError('AGENT_NO_MODEL', 'no model is active on this device')
  return rec.version
}

function refuseWhileBusy(control: SlotControl): void {
  if (updating(control.state)) {
    throw new FleetError('AGENT_BUSY', 'an update is in progress; retry when it has finished', { retryable: true })
  }
}

/** Make `slot` the active one now (operator command: no trial); the old active becomes `previous`. */
async function makeActive(control: SlotControl, slot: SlotName): Promise<void> {
  if (!(await control.send({ type: 'make-active', slot }))) {
    throw new FleetError('AGENT_BUSY', `slot ${slot} cannot be made active now (an update took the slots); retry`, { retryable: true })
  }
}

/** rollback: to the previous model (standby slot, no download) or to a named resident version. */
export async function rollback(control: SlotControl, log: AgentLog, cmd: CommandOf<'rollback'>): Promise<CommandResult> {
  refuseWhileBusy(control)
  const s = control.state
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
      target = await control.fetchForRollback(cmd.to.model)
    }
    if (target === null) {
      throw new FleetError('AGENT_NO_PREVIOUS_MODEL', `version ${version} is not resident on this device and no model to fetch was given`)
    }
  }
  const trial = control.state.trial
  // A trial whose way back is the target reverts (judged); one that ended meanwhile leaves a plain switch.
  const reverted =
    trial !== null &&
    trial.previous === target &&
    (await control.revertTrial(new FleetError('AGENT_TRIAL_INTERRUPTED', 'an operator rollback ended the trial')))
  if (!reverted) await makeActive(control, target)
  const after = control.state
  log.write('info', 'rolled back', { to: activeVersion(after) })
  return { kind: 'rollback', activeVersion: activeVersion(after), slots: reportedSlots(after), changed: true }
}

/** switch: make the staged blue-green candidate active. */
export async function switchSlots(control: SlotControl, log: AgentLog): Promise<CommandResult> {
  refuseWhileBusy(control)
  const s = control.state
  const staged = standbySlot(s)
  if (s.standby !== 'staged' || s.slots[staged] === null) {
    if (s.active !== null && s.standby !== 'staged' && s.stagedGeneration !== null && s.generation === s.stagedGeneration) {
      return { kind: 'switch', activeVersion: activeVersion(s), slots: reportedSlots(s), changed: false }
    }
    throw new FleetError('AGENT_NO_STAGED_MODEL', 'there is no staged candidate to switch to')
  }
  await makeActive(control, staged)
  const after = control.state
  log.write('info', 'switched to the staged model', { to: activeVersion(after) })
  return { kind: 'switch', activeVersion: activeVersion(after), slots: reportedSlots(after), changed: true }
}

/** decommission: free the slot of the model that is no longer active. */
export async function decommission(control: SlotControl): Promise<CommandResult> {
  refuseWhileBusy(control)
  const s = control.state
  if (s.trial !== null)
    throw new FleetError('AGENT_BUSY', 'a trial is running; the previous model is its revert target', { retryable: true })
  let freedBytes = 0
  if (s.active !== null && s.standby === 'previous') {
    const size = s.slots[otherSlot(s.active)]?.size ?? 0
    if (await control.send({ type: 'decommission' })) freedBytes = size
  }
  return { kind: 'decommission', slots: reportedSlots(control.state), freedBytes }
}
