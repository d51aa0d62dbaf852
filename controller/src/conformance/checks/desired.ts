import type { ReportedBody } from '@liquid-edge/protocol'
import { spec, slotsLine, type Kit } from '../kit.js'
import { expectThat, skip } from '../report.js'
import type { Check } from './check.js'
import { phasePath, roleOf, SETTLED } from './phases.js'

/** Wait until generation `gen` settles (§6.6) and check every transition on the way. */
export async function settle(kit: Kit, gen: number, from: number, timeoutMs?: number): Promise<{ final: ReportedBody; path: string }> {
  const final = await kit.reportedWhere((r) => r.generation === gen && SETTLED.has(r.phase), from, `answer to generation ${gen}`, timeoutMs)
  const { path, illegal } = phasePath(kit.reports(from), gen)
  expectThat(illegal === null, `phase ${illegal ?? ''} is not a transition §6.5 allows (path ${path.join(' → ')})`)
  return { final, path: path.join(' → ') }
}

export function errorOf(r: ReportedBody): string {
  return r.error === null ? `phase ${r.phase}` : `${r.phase} with ${r.error.code}: ${r.error.message}`
}

export function serving(r: ReportedBody): string | undefined {
  return r.slots.find((s) => s.role === 'active' || s.role === 'trial')?.model.sha256
}

/** A device with no model first gets one, so that the checks after it have a previous model to go back to. */
async function installFirst(kit: Kit): Promise<string> {
  const first = kit.pair[0]
  const from = kit.tap.mark
  const gen = await kit.desire(kit.ref(first))
  const { final, path } = await settle(kit, gen, from, kit.settings.trialMs + kit.settings.stepTimeoutMs)
  expectThat(
    final.phase === 'active' && serving(final) === first.sha256,
    `installing ${spec(first)} on an empty device ended ${errorOf(final)}`,
  )
  return `first installed ${spec(first)} (${path}); then `
}

export const DESIRED_CHECKS: Check[] = [
  {
    id: 'desired.activate',
    clause: '§6.5',
    title: 'a newer generation is downloaded, verified, staged, run in trial and confirmed at trialMs',
    async run(kit) {
      const installed = kit.serving() === null ? await installFirst(kit) : ''
      const target = kit.other()
      const before = kit.serving()
      const from = kit.tap.mark
      const gen = await kit.desire(kit.ref(target))
      const trial = await kit.reportedWhere(
        (r) => r.generation === gen && (r.phase === 'trial' || SETTLED.has(r.phase)),
        from,
        `trial of ${spec(target)}`,
      )
      expectThat(trial.phase === 'trial', `generation ${gen} ended ${errorOf(trial)} instead of a trial`)
      const trialAt = kit.deps.clock.now()
      expectThat(roleOf(trial, 'trial')?.model.sha256 === target.sha256, `the trial slot is not ${spec(target)}: ${slotsLine(trial.slots)}`)
      const { final, path } = await settle(kit, gen, from, kit.settings.trialMs + kit.settings.stepTimeoutMs)
      const confirmedAfter = kit.deps.clock.now() - trialAt
      expectThat(final.phase === 'active', `the trial ended ${errorOf(final)}`)
      expectThat(serving(final) === target.sha256, `active is not ${spec(target)}: ${slotsLine(final.slots)}`)
      if (before !== null) {
        const previous = roleOf(final, 'previous')
        expectThat(
          previous?.model.sha256 === before.model.sha256,
          `${spec(before.model)} is not kept as previous: ${slotsLine(final.slots)}`,
        )
      }
      expectThat(confirmedAfter >= kit.settings.trialMs - 1000, `confirmed ${confirmedAfter} ms into a ${kit.settings.trialMs} ms trial`)
      return `${installed}${path}; confirmed after ${confirmedAfter} ms; ${slotsLine(final.slots)}`
    },
  },
  {
    id: 'desired.repeat',
    clause: '§6.1',
    title: 'the same generation again (a retained copy) is ignored',
    async run(kit) {
      const r = kit.reported()
      const model = kit.serving()
      if (r === null || model === null) skip('the device serves no model')
      const record = await kit.deps.models.bySha(model.model.sha256)
      if (record === null) skip('the serving model is not in the store')
      await kit.deps.link.publishDesired(kit.id, {
        generation: r.generation,
        rolloutId: null,
        model: kit.ref(record),
        policy: { trialMs: kit.settings.trialMs, latencyThresholdMs: record.manifest.latencyThresholdMs },
      })
      const moved = await kit.tap.quiet(
        (s) => s.message.type === 'reported' && s.message.deviceId === kit.id && s.message.body.phase !== r.phase,
        3000,
      )
      expectThat(
        moved === null,
        `generation ${r.generation} again moved the device to ${moved === null ? '' : JSON.stringify(moved.message.body)}`,
      )
      return `generation ${r.generation} re-sent: no new phase in 3 s`
    },
  },
  {
    id: 'command.rollback',
    clause: '§9.4',
    title: 'rollback to previous swaps the slots at once, without a download',
    async run(kit) {
      const before = kit.reported()
      const previous = before === null ? undefined : roleOf(before, 'previous')
      if (previous === undefined) skip('no previous model to roll back to')
      const from = kit.tap.mark
      const { reply } = await kit.command(kit.expiring({ kind: 'rollback', to: { to: 'previous' } }))
      expectThat(reply.ok && reply.result.kind === 'rollback', `answered ${reply.ok ? reply.result.kind : reply.error.code}`)
      expectThat(
        reply.result.activeVersion === previous.model.version,
        `now runs ${reply.result.activeVersion}, not ${previous.model.version}`,
      )
      const after = await kit.reportedWhere(
        (r) => serving(r) === previous.model.sha256,
        from,
        `a report with ${spec(previous.model)} serving`,
      )
      const downloads = kit.reports(from).filter((r) => r.phase === 'downloading')
      expectThat(downloads.length === 0, 'the rollback downloaded the previous model again')
      return `${slotsLine(after.slots)} (changed: ${String(reply.result.changed)})`
    },
  },
  {
    id: 'desired.stage',
    clause: '§6.7',
    title: 'mode stage ends staged beside the running model',
    async run(kit) {
      const target = kit.other()
      const running = kit.serving()
      const from = kit.tap.mark
      const gen = await kit.desire(kit.ref(target), { mode: 'stage' })
      const { final, path } = await settle(kit, gen, from)
      expectThat(final.phase === 'staged', `generation ${gen} ended ${errorOf(final)}`)
      expectThat(roleOf(final, 'staged')?.model.sha256 === target.sha256, `${spec(target)} is not staged: ${slotsLine(final.slots)}`)
      expectThat(running === null || serving(final) === running.model.sha256, `the running model changed: ${slotsLine(final.slots)}`)
      return `${path}; ${slotsLine(final.slots)}`
    },
  },
  {
    id: 'command.switch',
    clause: '§6.7',
    title: 'switch makes the staged model active at once; the old one becomes previous',
    async run(kit) {
      const staged = kit.reported()?.slots.find((s) => s.role === 'staged')
      if (staged === undefined) skip('nothing staged (desired.stage did not stage)')
      const from = kit.tap.mark
      const { reply } = await kit.command(kit.expiring({ kind: 'switch' }))
      expectThat(reply.ok && reply.result.kind === 'switch', `answered ${reply.ok ? reply.result.kind : reply.error.code}`)
      const after = await kit.reportedWhere((r) => serving(r) === staged.model.sha256, from, `${spec(staged.model)} serving`)
      expectThat(after.phase === 'active', `phase ${after.phase} after switch`)
      return slotsLine(after.slots)
    },
  },
  {
    id: 'command.decommission',
    clause: '§9.4',
    title: 'decommission frees the previous slot',
    async run(kit) {
      const previous = kit.reported()?.slots.find((s) => s.role === 'previous')
      const { reply } = await kit.command(kit.expiring({ kind: 'decommission' }))
      expectThat(reply.ok && reply.result.kind === 'decommission', `answered ${reply.ok ? reply.result.kind : reply.error.code}`)
      expectThat(!reply.result.slots.some((s) => s.role === 'previous'), `still a previous slot: ${slotsLine(reply.result.slots)}`)
      return `${previous === undefined ? 'nothing to free' : `freed ${spec(previous.model)}`} (${reply.result.freedBytes} bytes)`
    },
  },
]
