import { createHash, randomInt } from 'node:crypto'
import type { ModelRef } from '@liquid-edge/protocol'
import { spec, slotsLine, type Kit } from '../kit.js'
import { expectThat, skip } from '../report.js'
import type { Check } from './check.js'
import { errorOf, serving, settle } from './desired.js'
import { SETTLED } from './phases.js'

/** Deploy `kit.other()` and wait for its trial; returns the generation and the tap mark before it. */
async function intoTrial(kit: Kit, o: { trialMs: number; policy?: Record<string, number> }): Promise<{ gen: number; from: number }> {
  const target = kit.other()
  const from = kit.tap.mark
  const gen = await kit.desire(kit.ref(target), o)
  const r = await kit.reportedWhere(
    (x) => x.generation === gen && (x.phase === 'trial' || SETTLED.has(x.phase)),
    from,
    `trial of ${spec(target)}`,
  )
  expectThat(r.phase === 'trial', `generation ${gen} ended ${errorOf(r)} instead of a trial`)
  return { gen, from }
}

/**
 * A copy of `record`'s package with one model byte flipped: same manifest, same claimed signature, no
 * valid one. The byte is drawn at random, so runs on other devices at the same time each get a file
 * of their own (one run's clean-up must not delete another's forgery mid-download).
 */
async function forgedRef(kit: Kit): Promise<{ ref: ModelRef; sha256: string }> {
  const record = kit.other()
  const chunks: Buffer[] = []
  for await (const chunk of kit.deps.artifacts.read(record.sha256)) chunks.push(chunk as Buffer)
  const bytes = Buffer.concat(chunks)
  const manifestLength = bytes.readUInt32LE(8)
  const at = 16 + manifestLength + randomInt(bytes.readUInt32LE(12 + manifestLength))
  bytes[at] = (bytes[at] ?? 0) ^ randomInt(1, 256)
  const sha256 = createHash('sha256').update(bytes).digest('hex')
  await kit.deps.artifacts.put(sha256, bytes)
  const genuine = kit.ref(record)
  return { ref: { ...genuine, sha256, url: genuine.url.replace(record.sha256, sha256) }, sha256 }
}

export const TRIAL_CHECKS: Check[] = [
  {
    id: 'trial.rollback',
    clause: '§6.5',
    title: 'a rollback during a trial reverts it with AGENT_TRIAL_INTERRUPTED',
    async run(kit) {
      const before = kit.serving()
      const { gen, from } = await intoTrial(kit, { trialMs: 10 * 60_000 })
      const { reply } = await kit.command(kit.expiring({ kind: 'rollback', to: { to: 'previous' } }))
      expectThat(reply.ok, `the rollback was refused: ${reply.ok ? '' : reply.error.code}`)
      const { final, path } = await settle(kit, gen, from)
      expectThat(final.phase === 'reverted', `the trial ended ${errorOf(final)}`)
      expectThat(final.error?.code === 'AGENT_TRIAL_INTERRUPTED', `reverted with ${final.error?.code ?? 'no error'}`)
      expectThat(before === null || serving(final) === before.model.sha256, `not back on the model it ran: ${slotsLine(final.slots)}`)
      return `${path}; ${slotsLine(final.slots)}`
    },
  },
  {
    id: 'trial.revert',
    clause: '§6.9',
    title: 'a trial that breaks its policy reverts on the device, by itself',
    async run(kit) {
      const before = kit.serving()
      const trialMs = Math.max(20_000, kit.settings.trialMs * 4)
      // An unmeetable latency limit: any inference breaks it once minSamples (1) have run.
      const policy = { latencyThresholdMs: 1e-6, latencyTolerance: 0, minSamples: 1 }
      const { gen, from } = await intoTrial(kit, { trialMs, policy })
      const { final, path } = await settle(kit, gen, from, trialMs + kit.settings.stepTimeoutMs)
      const inferences = kit.tap.of('telemetry', from, kit.id).reduce((n, t) => n + t.body.inferences, 0)
      if (final.phase === 'active' && inferences === 0) {
        skip(`the device ran no inferences during its ${trialMs / 1000} s trial, so no policy could be broken (it serves no workload)`)
      }
      expectThat(final.phase === 'reverted', `${inferences} inferences at a 1e-6 ms limit, yet the trial ended ${errorOf(final)}`)
      expectThat(final.error?.code === 'AGENT_TRIAL_LATENCY', `reverted with ${final.error?.code ?? 'no error'}, not AGENT_TRIAL_LATENCY`)
      expectThat(before === null || serving(final) === before.model.sha256, `not back on the model it ran: ${slotsLine(final.slots)}`)
      return `${path} with AGENT_TRIAL_LATENCY after ${inferences} inferences`
    },
  },
  {
    id: 'desired.expired',
    clause: '§6.2',
    title: 'an expired desired state is not applied: failed with AGENT_DESIRED_EXPIRED',
    async run(kit) {
      const before = kit.serving()
      const from = kit.tap.mark
      const gen = await kit.desire(kit.ref(kit.other()), { expiresAt: kit.deps.clock.now() - 60_000 })
      const { final, path } = await settle(kit, gen, from)
      expectThat(final.phase === 'failed' && final.error?.code === 'AGENT_DESIRED_EXPIRED', `generation ${gen} ended ${errorOf(final)}`)
      expectThat(serving(final) === before?.model.sha256, `the running model changed: ${slotsLine(final.slots)}`)
      expectThat(!path.includes('downloading'), `it downloaded the expired model (${path})`)
      return `${path}; still ${before === null ? 'no model' : spec(before.model)}`
    },
  },
  {
    id: 'desired.superseded',
    clause: '§6.3',
    title: 'a newer generation replaces one in progress, which is never activated',
    async run(kit) {
      const stay = kit.current()
      const from = kit.tap.mark
      // Back to back: a device may finish a small update before a second round trip of the kit's.
      const [older = 0, newer = 0] = await kit.desireInOrder([
        { model: kit.ref(kit.other()), trialMs: 10 * 60_000 },
        { model: kit.ref(stay) },
      ])
      const { final } = await settle(kit, newer, from, 2 * kit.settings.stepTimeoutMs)
      expectThat(final.phase === 'active' && serving(final) === stay.sha256, `generation ${newer} ended ${errorOf(final)}`)
      const ran = kit.reports(from).filter((r) => r.generation === older && (r.phase === 'trial' || r.phase === 'active'))
      expectThat(ran.length === 0, `the superseded generation ${older} was ${ran[0]?.phase ?? ''} before the newer one`)
      return `generation ${older} abandoned; ${newer} ${final.phase} on ${spec(stay)}`
    },
  },
  {
    id: 'signature.forged',
    clause: '§8.2',
    title: 'a package whose signature does not verify is refused: PACKAGE_SIGNATURE_INVALID',
    async run(kit) {
      const before = kit.serving()
      const forged = await forgedRef(kit)
      try {
        const from = kit.tap.mark
        const gen = await kit.desire(forged.ref)
        const { final, path } = await settle(kit, gen, from)
        expectThat(
          final.phase === 'failed' && final.error?.code === 'PACKAGE_SIGNATURE_INVALID',
          `generation ${gen} ended ${errorOf(final)}`,
        )
        const staged = kit.reports(from).filter((r) => r.slots.some((s) => s.model.sha256 === forged.sha256))
        expectThat(staged.length === 0, `the forged package was put in a slot: ${slotsLine(staged[0]?.slots ?? [])}`)
        expectThat(serving(final) === before?.model.sha256, `the running model changed: ${slotsLine(final.slots)}`)
        return `${path}; refused PACKAGE_SIGNATURE_INVALID`
      } finally {
        await kit.deps.artifacts.delete(forged.sha256)
      }
    },
  },
]
