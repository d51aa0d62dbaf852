import type { ReplyBody } from '@liquid-edge/protocol'
import { spec, slotsLine, type CommandWithoutExpiry, type Kit } from '../kit.js'
import { CheckFailure, expectThat, skip } from '../report.js'
import type { Check } from './check.js'

function describeReply(r: ReplyBody): string {
  return r.ok ? `ok (${r.result.kind})` : `${r.error.code}: ${r.error.message}`
}

function okResult<K extends string>(r: ReplyBody, kind: K): Extract<Extract<ReplyBody, { ok: true }>['result'], { kind: K }> {
  expectThat(r.ok, `answered ${describeReply(r)}`)
  expectThat(r.result.kind === kind, `answered a ${r.result.kind} result to a ${kind} command`)
  return r.result as Extract<Extract<ReplyBody, { ok: true }>['result'], { kind: K }>
}

/** An optional command: a correct answer passes, `DEVICE_UNSUPPORTED` is `unsupported`, anything else fails. */
async function optional(kit: Kit, body: CommandWithoutExpiry, judge: (r: ReplyBody) => string): Promise<string> {
  const { reply } = await kit.command(kit.expiring(body))
  if (!reply.ok && reply.error.code === 'DEVICE_UNSUPPORTED') throw new CheckFailure(`declined: ${reply.error.message}`, 'unsupported')
  return judge(reply)
}

export const COMMAND_CHECKS: Check[] = [
  {
    id: 'command.ping',
    clause: '§9.1',
    title: 'ping is answered on reply with commandId = the command id',
    async run(kit) {
      const sent = kit.deps.clock.now()
      const { reply, at } = await kit.command(kit.expiring({ kind: 'ping' }))
      const r = okResult(reply, 'ping')
      return `uptime ${Math.round(r.uptimeMs / 1000)} s, agent ${r.agentVersion}, answered in ${at - sent} ms`
    },
  },
  {
    id: 'command.repeat',
    clause: '§9.2',
    title: 'a repeated command id gets the first answer again, not a new run',
    async run(kit) {
      const first = await kit.command(kit.expiring({ kind: 'ping' }))
      const again = await kit.command(kit.expiring({ kind: 'ping' }), first.id)
      expectThat(JSON.stringify(again.reply) === JSON.stringify(first.reply), `the second answer differs: ${JSON.stringify(again.reply)}`)
      return 'identical answer to the same id'
    },
  },
  {
    id: 'command.expired',
    clause: '§9.3',
    title: 'an expired command is refused with AGENT_COMMAND_EXPIRED',
    async run(kit) {
      const { reply } = await kit.command({ kind: 'ping', expiresAt: kit.deps.clock.now() - 60_000 })
      expectThat(!reply.ok && reply.error.code === 'AGENT_COMMAND_EXPIRED', `answered ${describeReply(reply)}`)
      return 'refused, AGENT_COMMAND_EXPIRED'
    },
  },
  {
    id: 'command.unknown',
    clause: '§9.5',
    title: 'a command of an unknown kind is answered with PROTO_UNKNOWN_COMMAND',
    async run(kit) {
      const id = `conf-${globalThis.crypto.randomUUID()}`
      const from = kit.tap.mark
      await kit.deps.link.publishFutureCommand(kit.id, 'x-conformance-probe', id, kit.deps.clock.now() + kit.settings.stepTimeoutMs)
      const s = await kit.tap.next((x) => x.message.type === 'reply' && x.message.body.commandId === id, {
        from,
        timeoutMs: kit.settings.stepTimeoutMs,
        what: 'answer to a command of kind x-conformance-probe',
      })
      const reply = (s.message as { body: ReplyBody }).body
      expectThat(!reply.ok && reply.error.code === 'PROTO_UNKNOWN_COMMAND', `answered ${describeReply(reply)}`)
      return 'refused, PROTO_UNKNOWN_COMMAND'
    },
  },
  {
    id: 'command.status',
    clause: '§9.4',
    title: 'status (slots) answers the slots the device reports',
    async run(kit) {
      const r = okResult((await kit.command(kit.expiring({ kind: 'status', metric: 'slots' }))).reply, 'status')
      expectThat(r.slots !== undefined, 'the answer has no slots')
      const reported = kit.reported()?.slots ?? []
      const key = (s: { slot: string; role: string; model: { sha256: string } }) => `${s.slot}:${s.role}:${s.model.sha256}`
      expectThat(
        r.slots.map(key).sort().join() === reported.map(key).sort().join(),
        `answered ${slotsLine(r.slots)}; reported ${slotsLine(reported)}`,
      )
      return slotsLine(r.slots)
    },
  },
  {
    id: 'command.verify',
    clause: '§9.4',
    title: 'verify smoke runs the golden vectors of the active model',
    async run(kit) {
      const r = okResult((await kit.command(kit.expiring({ kind: 'verify', suite: 'smoke', samples: 5 }))).reply, 'verify')
      expectThat(r.passed, `the smoke suite failed: ${r.checks.map((c) => `${c.name} ${c.passed ? 'ok' : 'failed'}`).join(', ')}`)
      return `passed on ${r.modelVersion} (${r.checks.length} checks)`
    },
  },
  {
    id: 'command.storage',
    clause: '§9.4',
    title: 'status storage and memory are answered or declined as unsupported',
    async run(kit) {
      const parts: string[] = []
      for (const metric of ['storage', 'memory'] as const) {
        parts.push(
          await optional(kit, { kind: 'status', metric }, (reply) => {
            const r = okResult(reply, 'status')
            expectThat(r[metric] !== undefined, `status ${metric} answered without ${metric}`)
            return `${metric} ok`
          }),
        )
      }
      return parts.join(', ')
    },
  },
  {
    id: 'command.profile',
    clause: '§9.4',
    title: 'profile latency measures the active model (optional)',
    run: (kit) =>
      optional(kit, { kind: 'profile', metric: 'latency', samples: 20 }, (reply) => {
        const r = okResult(reply, 'profile')
        expectThat(r.unit === 'ms', `latency in ${r.unit}, not ms`)
        expectThat(r.quantiles !== null && r.quantiles.samples > 0, 'no latency measured')
        return `p50 ${r.quantiles.p50.toFixed(3)} ms over ${r.quantiles.samples} samples`
      }),
  },
  {
    id: 'command.logs',
    clause: '§9.4',
    title: 'logs returns recent lines (optional)',
    run: (kit) =>
      optional(kit, { kind: 'logs', lines: 5, follow: false, followMs: 0 }, (reply) => `${okResult(reply, 'logs').lines.length} lines`),
  },
  {
    id: 'command.evaluate',
    clause: '§9.4',
    title: 'evaluate runs the package evaluation set (optional)',
    async run(kit) {
      const set = kit.current().manifest.evaluation
      if (set === undefined) skip(`${spec(kit.current())} has no evaluation set`)
      return optional(kit, { kind: 'evaluate', dataset: set.name }, (reply) => {
        const r = okResult(reply, 'evaluate')
        expectThat(r.samples === set.samples.length, `evaluated ${r.samples} of ${set.samples.length} samples`)
        return `accuracy ${(r.accuracy * 100).toFixed(1)} % on ${r.samples} samples`
      })
    },
  },
]
