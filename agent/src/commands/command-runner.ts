import * as z from 'zod'
import { FleetError, ReplyBodySchema, toErrorPayload, type Command, type CommandResult, type ReplyBody } from '@liquid-edge/protocol'
import type { AgentInternals } from '../internals.js'

const REPLIES_FILE = 'command-replies.json'
const CachedSchema = z.array(z.tuple([z.string(), ReplyBodySchema]))

/** A handler: a single result, or (logs --follow) a stream of parts via `send`. */
export type CommandHandler = (
  command: Command,
  send: (result: CommandResult, final: boolean) => Promise<void>,
) => Promise<CommandResult | null>

/**
 * Commands are idempotent by id: the first answer is persisted (bounded) and a repeated id gets it
 * again without running anything. An expired command is refused with `AGENT_COMMAND_EXPIRED`.
 */
export class CommandRunner {
  private readonly answered = new Map<string, ReplyBody>()
  private readonly running = new Set<string>()
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
    this.running.add(id)
    try {
      let body: ReplyBody
      let sent = false
      if (this.ai.clock.now() > command.body.expiresAt) {
        body = this.failure(id, new FleetError('AGENT_COMMAND_EXPIRED', `command ${id} expired at ${command.body.expiresAt}`))
      } else {
        ;({ body, sent } = await this.execute(command))
      }
      await this.remember(id, body)
      if (!sent)
        await this.reply(body).catch((err: unknown) => {
          this.ai.log.write('warn', 'command reply not sent', { commandId: id, err })
        })
      return body
    } finally {
      this.running.delete(id)
    }
  }

  private async execute(command: Command): Promise<{ body: ReplyBody; sent: boolean }> {
    const id = command.id
    this.ai.log.write('info', 'command received', { commandId: id, kind: command.body.kind })
    let part = 0
    const streamed: { first: ReplyBody | null } = { first: null }
    const send = async (result: CommandResult, final: boolean): Promise<void> => {
      const body: ReplyBody = { commandId: id, ok: true, part: part++, final, result }
      if (streamed.first === null) {
        streamed.first = body
        await this.remember(id, body)
      }
      await this.reply(body)
    }
    try {
      const result = await this.handler(command, send)
      if (result === null && streamed.first !== null) return { body: streamed.first, sent: true }
      return { body: { commandId: id, ok: true, part: 0, final: true, result: result ?? { kind: 'logs', lines: [] } }, sent: false }
    } catch (err) {
      this.ai.log.write('warn', 'command failed', { commandId: id, err })
      return { body: this.failure(id, err), sent: false }
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
