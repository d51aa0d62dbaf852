import type { Command, CommandResult } from '@liquid-edge/protocol'
import type { AgentInternals } from '../internals.js'
import type { LogLine } from '../log/agent-log.js'
import type { SlotControl } from '../update/updater.js'
import type { CommandHandler } from './command-runner.js'
import { ping, status } from './info-commands.js'
import { evaluate, profile, verify } from './measure-commands.js'
import { MeasureSession } from './measure-session.js'
import { decommission, rollback, switchSlots } from './slot-commands.js'

/** How often a followed log stream sends a part. */
const FOLLOW_BATCH_MS = 250

/** logs: the recent lines; with `follow`, further parts until `followMs` passes, the last one `final`. */
async function logs(ai: AgentInternals, cmd: Extract<Command['body'], { kind: 'logs' }>, send: Parameters<CommandHandler>[1]) {
  const lines = ai.log.recent(cmd.lines)
  if (!cmd.follow) return { kind: 'logs', lines } satisfies CommandResult
  await send({ kind: 'logs', lines }, false)
  let pending: LogLine[] = []
  const stop = ai.log.follow((line) => pending.push(line))
  const endAt = ai.clock.now() + cmd.followMs
  try {
    while (ai.clock.now() < endAt) {
      await new Promise<void>((resolve) => ai.clock.setTimeout(resolve, Math.min(FOLLOW_BATCH_MS, Math.max(0, endAt - ai.clock.now()))))
      if (pending.length > 0 && ai.clock.now() < endAt) {
        const batch = pending
        pending = []
        await send({ kind: 'logs', lines: batch }, false)
      }
    }
  } finally {
    stop()
  }
  await send({ kind: 'logs', lines: pending }, true)
  return null
}

type MeasureBody = Extract<Command['body'], { kind: 'verify' | 'profile' | 'evaluate' }>

/** The dispatch table of command kinds. Measurements run one at a time, each within its duty cycle. */
export function commandHandler(ai: AgentInternals, slots: SlotControl): CommandHandler {
  let measuring: Promise<unknown> = Promise.resolve()
  const measure = (
    body: MeasureBody,
    send: Parameters<CommandHandler>[1],
    signal: AbortSignal,
    run: (session: MeasureSession) => Promise<CommandResult>,
  ): Promise<CommandResult> => {
    const start = (): Promise<CommandResult> => {
      const session = new MeasureSession(ai, { dutyCycle: body.dutyCycle, signal, send })
      session.check()
      return run(session)
    }
    const turn = measuring.then(start, start)
    measuring = turn.catch(() => undefined)
    return turn
  }
  return async (command, send, signal) => {
    const body = command.body
    switch (body.kind) {
      case 'ping':
        return ping(ai)
      case 'rollback':
        return rollback(slots, ai.log, body)
      case 'switch':
        return switchSlots(slots, ai.log)
      case 'decommission':
        return decommission(slots)
      case 'verify':
        return measure(body, send, signal, (session) => verify(ai, body, session))
      case 'profile':
        return measure(body, send, signal, (session) => profile(ai, body, session))
      case 'evaluate':
        return measure(body, send, signal, (session) => evaluate(ai, body, session))
      case 'cancel':
        return null // answered by the command runner
      case 'status':
        return status(ai, body)
      case 'logs':
        return logs(ai, body, send)
    }
  }
}
