import type { TelemetryBody } from '@liquid-edge/protocol'
import type { Kit } from '../kit.js'
import { expectThat, skip } from '../report.js'
import type { Check } from './check.js'

/** Clock difference the kit tolerates between the device and the controller (§5.2 asks for 5 s). */
const SKEW_MS = 60_000

function windowsOf(kit: Kit, from: number): { at: number; ts: number; body: TelemetryBody }[] {
  return kit.tap.seen
    .slice(from)
    .flatMap((s) =>
      s.message.type === 'telemetry' && s.message.deviceId === kit.id ? [{ at: s.at, ts: s.message.ts, body: s.message.body }] : [],
    )
}

export const TELEMETRY_CHECKS: Check[] = [
  {
    id: 'telemetry.windows',
    clause: '§10',
    title: 'telemetry windows arrive in seq order, in milliseconds, never retained',
    async run(kit) {
      const from = kit.tap.mark
      const first = await kit.tap.next((s) => s.message.type === 'telemetry' && s.message.deviceId === kit.id, {
        from,
        timeoutMs: kit.settings.stepTimeoutMs,
        what: 'telemetry window',
      })
      const windowMs = first.message.type === 'telemetry' ? first.message.body.windowMs : 1000
      await kit.tap.next((s) => s.message.type === 'telemetry' && s.message.deviceId === kit.id && s.n > first.n, {
        from,
        timeoutMs: Math.max(3 * windowMs, kit.settings.stepTimeoutMs),
        what: 'second telemetry window',
      })
      const [a, b] = windowsOf(kit, from)
      expectThat(a !== undefined && b !== undefined, 'fewer than two windows')
      expectThat(b.body.seq === a.body.seq + 1, `seq ${a.body.seq} then ${b.body.seq}: windows grow by one (§10.2)`)
      for (const w of [a, b]) {
        expectThat(
          w.body.errors <= w.body.inferences,
          `window ${w.body.seq}: ${w.body.errors} errors of ${w.body.inferences} inferences (§10.3)`,
        )
        const end = w.body.windowStart + w.body.windowMs
        expectThat(
          Math.abs(end - w.ts) <= SKEW_MS,
          `window ${w.body.seq} ends ${end - w.ts} ms from its own ts: windowStart and windowMs are milliseconds (§5)`,
        )
        expectThat(Math.abs(w.ts - w.at) <= SKEW_MS, `window ${w.body.seq} is stamped ${w.ts - w.at} ms from the controller's clock (§5.2)`)
      }
      const retained = await kit.deps.link.retained(kit.deps.link.codec.topics.telemetry(kit.id), 1500)
      expectThat(retained === null, 'a telemetry window is retained on the broker (§3)')
      return `seq ${a.body.seq}, ${b.body.seq}; ${b.body.windowMs} ms windows, ${b.body.inferences} inferences, ${b.body.errors} errors`
    },
  },
  {
    id: 'telemetry.offline',
    clause: '§10.4',
    title: 'windows of the outage are sent after it, or counted as dropped',
    offline: true,
    async run(kit) {
      const off = kit.offline
      if (off?.backFrom == null || off.lastSeqBefore === null) skip('no outage with telemetry before it in this run')
      const before = off.lastSeqBefore
      const gap = (): { missing: number; dropped: number; upTo: number } | null => {
        // From the cut on: a window that arrived while the operator was still cutting was sent.
        const after = windowsOf(kit, off.cutFrom).filter((w) => w.body.seq > before)
        const live = after.at(-1)
        if (live === undefined) return null
        const seqs = new Set(after.map((w) => w.body.seq))
        const missing = live.body.seq - before - seqs.size
        const dropped = after.reduce((n, w) => n + w.body.dropped, 0)
        return { missing, dropped, upTo: live.body.seq }
      }
      const deadline = kit.deps.clock.now() + kit.settings.stepTimeoutMs
      let g = gap()
      while (kit.deps.clock.now() < deadline && (g === null || g.missing > g.dropped)) {
        await kit.tap.quiet(() => true, 500)
        g = gap()
      }
      expectThat(g !== null, 'no telemetry after the device came back')
      expectThat(
        g.missing <= g.dropped,
        `${g.missing} windows between seq ${before} and ${g.upTo} neither sent nor counted as dropped (${g.dropped})`,
      )
      return `seq ${before} → ${g.upTo}: every window sent${g.dropped > 0 ? ` or counted dropped (${g.dropped})` : ''}`
    },
  },
  {
    id: 'envelope.ids',
    clause: '§4.3',
    title: 'every message the device sent in the run has an id of its own and a timestamp in milliseconds',
    run(kit) {
      const byId = new Map<string, string>()
      let n = 0
      for (const s of kit.tap.seen) {
        if (!('deviceId' in s.message) || s.message.deviceId !== kit.id) continue
        n++
        const text = JSON.stringify(s.message)
        const prior = byId.get(s.message.id)
        expectThat(prior === undefined || prior === text, `id ${s.message.id} was used for two different ${s.message.type} messages`)
        byId.set(s.message.id, text)
        // Only the future is judged: a Last Will is built at connect and retained copies are old by nature.
        const ahead = s.message.ts - s.at
        expectThat(ahead <= SKEW_MS, `${s.message.type} ${s.message.id} is stamped ${ahead} ms ahead of the controller's clock`)
      }
      expectThat(n > 0, 'no messages from the device')
      const refused = kit.tap.refused.filter((r) => r.topic.includes(`/devices/${kit.id}/`))
      expectThat(refused.length === 0, `undecodable messages: ${refused.map((r) => `${r.error.code} on ${r.topic}`).join('; ')}`)
      return Promise.resolve(`${n} messages, ${byId.size} ids`)
    },
  },
]
