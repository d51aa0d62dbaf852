import * as z from 'zod'
import {
  FleetError,
  MessageIdSchema,
  ReplyBodySchema,
  toErrorPayload,
  type Command,
  type CommandResult,
  type ErrorCode,
  type ReplyBody,
} from '@liquid-edge/protocol'
import type { AgentInternals } from '../internals.js'

const REPLIES_FILE = 'command-replies.json'
const MAX_TIMER_MS = 2_147_483_647
const CachedSchema = z.array(z.tuple([z.string(), ReplyBodySchema]))

/**
 * A handler: a single result, or a stream of parts via `send` (logs --follow, partial results of a
 * long measurement); `signal` aborts when the command is cancelled or expires while it runs.
 */
export type CommandHandler = (
  command: Command,
  send: (result: CommandResult, final: boolean) => Promise<void>,
  signal: AbortSignal,
) => Promise<CommandResult | null>

/**
 * Commands are idempotent by id: the final answer is persisted (bounded) and a repeated id gets it
 * again without running anything. An expired command is refused with `AGENT_COMMAND_EXPIRED`; a
 * running one is aborted at its expiry or by a `cancel` command naming it.
 */
export class CommandRunner {
  private readonly answered = new Map<string, ReplyBody>()
  private readonly running = new Map<string, AbortController>()
  private saving: Promise<void> = Promise.resolve()

  constructor(
    private readonly ai: AgentInternals,
    private readonly handler: CommandHandler,
    private readonly reply: (body: ReplyBody) => Promise<void>,
    private readonly capacity = 256,
  ) {}

  async load(): Promise<void> {
    const bytes = await this.ai.store.read(REPLIES_FILE)
    if (bytes === null) return
    const parsed = CachedSchema.safeParse(JSON.parse(new TextDecoder().decode(bytes)))
    if (!parsed.success) {
      this.ai.log.write('warn', 'command reply cache is invalid; starting empty')
      return
    }
    for (const [id, body] of parsed.data) this.answered.set(id, body)
  }

  /** Handle one decoded command. Never throws. */
  async handle(command: Command): Promise<ReplyBody | null> {
    const id = command.id
    const first = this.answered.get(id)
    if (first !== undefined) {
      this.ai.log.write('info', 'command repeated: answering the first reply', { commandId: id })
      await this.reply(first).catch(() => undefined)
      return first
    }
    if (this.running.has(id)) return null
    if (command.body.kind === 'cancel') return this.cancel(id, command.body.commandId)
    const abort = new AbortController()
    this.running.set(id, abort)
    const untilExpiry = command.body.expiresAt - this.ai.clock.now()
    // Timers cannot wait longer than 2^31 - 1 ms; a command that far from its expiry has no timer.
    const expiry =
      untilExpiry < MAX_TIMER_MS
        ? this.ai.clock.setTimeout(
            () => {
              abort.abort('expired')
            },
            Math.max(0, untilExpiry),
          )
        : null
    try {
      let body: ReplyBody
      let sent = false
      if (this.ai.clock.now() > command.body.expiresAt) {
        body = this.failure(id, new FleetError('AGENT_COMMAND_EXPIRED', `command ${id} expired at ${command.body.expiresAt}`))
      } else {
        ;({ body, sent } = await this.execute(command, abort.signal))
      }
      await this.remember(id, body)
      if (!sent)
        await this.reply(body).catch((err: unknown) => {
          this.ai.log.write('warn', 'command reply not sent', { commandId: id, err })
        })
      return body
    } finally {
      if (expiry !== null) this.ai.clock.clearTimeout(expiry)
      this.running.delete(id)
    }
  }

  /**
   * Answer a command that could not be decoded (an unknown kind, a bad field) with its error, once:
   * every command with a readable id gets exactly one answer, also when this agent cannot run it.
   */
  async refuse(id: string, code: ErrorCode, message: string): Promise<ReplyBody> {
    const first = this.answered.get(id)
    if (first !== undefined) {
      await this.reply(first).catch(() => undefined)
      return first
    }
    const body = this.failure(id, new FleetError(code, message))
    await this.remember(id, body)
    await this.reply(body).catch((err: unknown) => {
      this.ai.log.write('warn', 'command reply not sent', { commandId: id, err })
    })
    return body
  }

  /** Stop the running command `target`; answered at once (a repeated cancel gets its first answer). */
  private async cancel(id: string, target: string): Promise<ReplyBody> {
    const running = this.running.get(target)
    running?.abort('cancelled')
    this.ai.log.write('info', 'command cancel', { commandId: id, target, running: running !== undefined })
    const body: ReplyBody = {
      commandId: id,
      ok: true,
      part: 0,
      final: true,
      result: { kind: 'cancel', commandId: target, cancelled: running !== undefined },
    }
    await this.remember(id, body)
    await this.reply(body).catch(() => undefined)
    return body
  }

  private async execute(command: Command, signal: AbortSignal): Promise<{ body: ReplyBody; sent: boolean }> {
    const id = command.id
    this.ai.log.write('info', 'command received', { commandId: id, kind: command.body.kind })
    let part = 0
    const streamed: { final: ReplyBody | null } = { final: null }
    const send = async (result: CommandResult, final: boolean): Promise<void> => {
      const body: ReplyBody = { commandId: id, ok: true, part: part++, final, result }
      if (final) {
        streamed.final = body
        await this.remember(id, body)
      }
      await this.reply(body)
    }
    try {
      const result = await this.handler(command, send, signal)
      if (result === null && streamed.final !== null) return { body: streamed.final, sent: true }
      return { body: { commandId: id, ok: true, part, final: true, result: result ?? { kind: 'logs', lines: [] } }, sent: false }
    } catch (err) {
      this.ai.log.write('warn', 'command failed', { commandId: id, err })
      return { body: { ...this.failure(id, err), part }, sent: false }
    }
  }

  private failure(commandId: string, err: unknown): ReplyBody {
    return { commandId, ok: false, part: 0, final: true, error: toErrorPayload(err) }
  }

  private remember(id: string, body: ReplyBody): Promise<void> {
    if (this.answered.has(id)) return this.saving
    this.answered.set(id, body)
    while (this.answered.size > this.capacity) {
      const oldest = this.answered.keys().next().value
      if (oldest === undefined) break
      this.answered.delete(oldest)
    }
    const bytes = new TextEncoder().encode(JSON.stringify([...this.answered]))
    this.saving = this.saving.catch(() => undefined).then(() => this.ai.store.write(REPLIES_FILE, bytes))
    return this.saving
  }
}

/**
 * The id of a command the codec refused, when the payload is still a command envelope addressed to
 * `deviceId` with a well-formed id: such a command is answered with its decode error.
 */
export function readableCommandId(payload: Uint8Array, deviceId: string): string | null {
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder().decode(payload))
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null) return null
  const { type, id, deviceId: to } = value as Record<string, unknown>
  if (type !== 'command' || to !== deviceId) return null
  const parsed = MessageIdSchema.safeParse(id)
  return parsed.success ? parsed.data : null
}
