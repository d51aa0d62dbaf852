import { createCodec, type StatusBody } from '@liquid-edge/protocol'
import { spec, slotsLine, type Kit } from '../kit.js'
import { expectThat, skip } from '../report.js'
import type { Check } from './check.js'
import { errorOf, serving, settle } from './desired.js'
import { slotProblems } from './phases.js'

/** Decode a retained payload read back from the broker, or fail naming what it is not. */
function decodeRetained(topic: string, bytes: Uint8Array | null, what: string) {
  expectThat(bytes !== null, `no retained ${what} on ${topic}`)
  const d = createCodec({ root: topic.slice(0, topic.indexOf('/devices/')) }).decode(topic, bytes)
  expectThat(d.ok, `the retained ${what} does not decode: ${d.ok ? '' : `${d.error.code} ${d.error.message}`}`)
  return d.message
}

/** The last status of `id` seen in this run, else the retained one. */
async function lastStatus(kit: Kit, id: string): Promise<StatusBody> {
  const seen = kit.tap.of('status', 0, id).at(-1)
  if (seen !== undefined) return seen.body
  const topic = kit.deps.link.codec.topics.status(id)
  const m = decodeRetained(topic, await kit.deps.link.retained(topic, kit.settings.stepTimeoutMs), 'status')
  expectThat(m.type === 'status', `a ${m.type} message on ${topic}`)
  return m.body
}

/** The connection that carries the device: its gateway's, or its own. */
function connectionOf(kit: Kit): string {
  return kit.device.gateway ?? kit.id
}

export const SESSION_CHECKS: Check[] = [
  {
    id: 'session.status',
    clause: '§2.6',
    title: 'a retained status says online with a session number',
    async run(kit) {
      const topic = kit.deps.link.codec.topics.status(kit.id)
      const m = decodeRetained(topic, await kit.deps.link.retained(topic, kit.settings.stepTimeoutMs), 'status')
      expectThat(m.type === 'status', `a ${m.type} message on ${topic}`)
      expectThat(m.body.online, `the retained status says offline (session ${m.body.session})`)
      expectThat(m.body.session >= 1, `session ${m.body.session}: the counter starts at 1 (§2.4)`)
      const via = m.body.gateway === undefined ? '' : `, through gateway ${m.body.gateway}`
      return `online, session ${m.body.session}${via}`
    },
  },
  {
    id: 'reported.state',
    clause: '§6.8',
    title: 'a retained reported state with consistent slots',
    async run(kit) {
      const topic = kit.deps.link.codec.topics.reported(kit.id)
      const m = decodeRetained(topic, await kit.deps.link.retained(topic, kit.settings.stepTimeoutMs), 'reported state')
      expectThat(m.type === 'reported', `a ${m.type} message on ${topic}`)
      const problems = slotProblems(m.body)
      expectThat(problems.length === 0, problems.join('; '))
      return `generation ${m.body.generation}, ${m.body.phase}, ${slotsLine(m.body.slots)}`
    },
  },
  {
    id: 'session.will',
    clause: '§2.5',
    title: 'cut off abruptly, the connection leaves its Last Will: offline, same session, retained',
    offline: true,
    async run(kit) {
      const connection = connectionOf(kit)
      const online = await lastStatus(kit, connection)
      expectThat(online.online, `${connection} is not online (status says offline, session ${online.session})`)
      const device = connection === kit.id ? online : await lastStatus(kit, kit.id)
      const lastSeqBefore = kit.tap.of('telemetry', 0, kit.id).reduce<number | null>((m, t) => Math.max(m ?? -1, t.body.seq), null)
      const from = kit.tap.mark
      const timeoutMs = kit.settings.offlineTimeoutMs
      await kit.settings.onAction({
        kind: 'disconnect',
        deviceId: kit.id,
        connection,
        timeoutMs,
        prompt: `Take ${connection} offline abruptly — cut its network or power, no clean shutdown. Waiting up to ${Math.round(timeoutMs / 1000)} s for its Last Will.`,
      })
      const will = await kit.tap.next((s) => s.message.type === 'status' && s.message.deviceId === connection && !s.message.body.online, {
        from,
        timeoutMs,
        what: `offline status (Last Will) of ${connection}`,
      })
      kit.offline = { deviceSession: device.session, lastSeqBefore, cutFrom: from, backFrom: null, reconnectedSession: null }
      const body = (will.message as { body: StatusBody }).body
      expectThat(
        body.session === online.session,
        `the Last Will says session ${body.session}; the connection was session ${online.session}`,
      )
      const topic = kit.deps.link.codec.topics.status(connection)
      const kept = decodeRetained(topic, await kit.deps.link.retained(topic, kit.settings.stepTimeoutMs), 'status')
      expectThat(kept.type === 'status' && !kept.body.online, 'the offline status is not the retained one')
      return `offline, session ${body.session}, retained${connection === kit.id ? '' : ` (gateway ${connection})`}`
    },
  },
  {
    id: 'offline.catchup',
    clause: '§6.3',
    title: 'back online, the device converges on the newest desired state and skips the one it missed',
    offline: true,
    async run(kit) {
      const off = kit.offline
      if (off === null) skip('the device did not go offline in this run')
      const missed = await kit.desire(kit.ref(kit.current()), { trialMs: 10 * 60_000 })
      const target = kit.other()
      const gen = await kit.desire(kit.ref(target))
      const from = kit.tap.mark
      const timeoutMs = kit.settings.offlineTimeoutMs
      await kit.settings.onAction({
        kind: 'reconnect',
        deviceId: kit.id,
        connection: connectionOf(kit),
        timeoutMs,
        prompt: `Bring ${connectionOf(kit)} back online (network or power). Waiting up to ${Math.round(timeoutMs / 1000)} s for it.`,
      })
      const back = await kit.tap.next((s) => s.message.type === 'status' && s.message.deviceId === kit.id && s.message.body.online, {
        from,
        timeoutMs,
        what: `online status of ${kit.id}`,
      })
      off.backFrom = from
      off.reconnectedSession = (back.message as { body: StatusBody }).body.session
      const { final, path } = await settle(kit, gen, from, kit.settings.trialMs + 2 * kit.settings.stepTimeoutMs)
      expectThat(final.phase === 'active' && serving(final) === target.sha256, `generation ${gen} ended ${errorOf(final)}`)
      const touched = kit.reports(from).filter((r) => r.generation === missed)
      expectThat(touched.length === 0, `the missed generation ${missed} was worked on (${touched[0]?.phase ?? ''})`)
      return `converged on generation ${gen} (${spec(target)}): ${path}; generation ${missed} never seen`
    },
  },
  {
    id: 'session.number',
    clause: '§2.4',
    title: 'the session number grows with the new connection',
    offline: true,
    run(kit) {
      const off = kit.offline
      if (off?.reconnectedSession == null) skip('the device did not come back in this run')
      expectThat(off.reconnectedSession > off.deviceSession, `session ${off.reconnectedSession} after session ${off.deviceSession}`)
      return Promise.resolve(`session ${off.deviceSession} → ${off.reconnectedSession}`)
    },
  },
]
