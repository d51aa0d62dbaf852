import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { pino } from 'pino'
import {
  CommandResultSchema,
  type CommandInput,
  type CommandKind,
  type CommandResult,
  type Decoded,
  type ErrorPayload,
} from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'

/** What the fan-out needs from the controller's MQTT session (MqttLink satisfies it). */
export interface CommandLink {
  publishCommand(deviceId: string, body: CommandInput, id?: string): Promise<string>
  on(event: 'message', listener: (m: Decoded) => void): unknown
  off(event: 'message', listener: (m: Decoded) => void): unknown
}

/** How one device answered: `ok` (result), `error` (the device refused or failed), `unreachable` (no final answer in time). */
export type AnswerStatus = 'ok' | 'error' | 'unreachable'

export interface DeviceAnswer<R extends CommandResult = CommandResult> {
  deviceId: string
  commandId: string
  status: AnswerStatus
  /** The final result (`ok`). */
  result: R | null
  error: ErrorPayload | null
  /** Why a device is unreachable: `offline` (its status says so) or `timeout`. */
  reason: 'offline' | 'timeout' | null
  /** Milliseconds from publish to the final answer. */
  elapsedMs: number | null
}

export interface FanoutRequest {
  deviceIds: readonly string[]
  /** The command each device gets (one body for all, or one per device). */
  body: CommandInput | ((deviceId: string) => CommandInput)
  timeoutMs: number
  /** Devices known to be offline: reported unreachable at once (the command is still sent and expires). */
  offline?: ReadonlySet<string>
  /** Each final answer as it arrives (progress). */
  onAnswer?: (answer: DeviceAnswer, done: number, total: number) => void
  /** Streaming parts before the final one (logs --follow). */
  onPart?: (deviceId: string, result: CommandResult, part: number) => void
  /** Stop waiting early (a client went away). */
  signal?: AbortSignal
}

export interface FanoutResult<R extends CommandResult = CommandResult> {
  runId: string
  kind: CommandKind
  startedAt: number
  finishedAt: number
  answers: DeviceAnswer<R>[]
}

interface Pending {
  deviceId: string
  sentAt: number
  kind: CommandKind
  settle: (a: DeviceAnswer) => void
  onPart: ((result: CommandResult, part: number) => void) | undefined
}

/**
 * Publishes one command to every device of a target (each with its own id `<run>.<device>` and an
 * expiry), gathers replies by command id until each device has answered or the timeout passes, and
 * reports every device: answered, failed, or unreachable. Replies were validated by the codec; the
 * result is checked again against the command kind asked for.
 */
export class CommandFanout {
  private readonly pending = new Map<string, Pending>()
  private readonly listener = (m: Decoded): void => {
    this.onMessage(m)
  }
  private readonly logger: Logger

  constructor(
    private readonly link: CommandLink,
    private readonly clock: Clock,
    logger?: Logger,
  ) {
    this.logger = logger ?? pino({ level: 'silent' })
    link.on('message', this.listener)
  }

  close(): void {
    this.link.off('message', this.listener)
  }

  private onMessage(m: Decoded): void {
    if (m.message.type !== 'reply') return
    const body = m.message.body
    const p = this.pending.get(body.commandId)
    if (p === undefined || m.message.deviceId !== p.deviceId) return
    const elapsedMs = this.clock.now() - p.sentAt
    if (!body.ok) {
      p.settle({
        deviceId: p.deviceId,
        commandId: body.commandId,
        status: 'error',
        result: null,
        error: body.error,
        reason: null,
        elapsedMs,
      })
      return
    }
    const checked = CommandResultSchema.safeParse(body.result)
    if (!checked.success || checked.data.kind !== p.kind) {
      this.logger.warn({ deviceId: p.deviceId, commandId: body.commandId }, 'reply of the wrong kind dropped')
      return
    }
    if (!body.final) {
      p.onPart?.(checked.data, body.part)
      return
    }
    p.settle({ deviceId: p.deviceId, commandId: body.commandId, status: 'ok', result: checked.data, error: null, reason: null, elapsedMs })
  }

  /** Ask a device to stop a command it may still run (best effort: a device that does not know `cancel` still honours the expiry). */
  private cancel(deviceId: string, commandId: string): void {
    const expiresAt = this.clock.now() + 30_000
    this.link.publishCommand(deviceId, { kind: 'cancel', commandId, expiresAt }, `${commandId}.cancel`).catch((err: unknown) => {
      this.logger.debug({ err, deviceId }, 'cancel publish failed')
    })
  }

  /** Send and gather. Never rejects for a device's failure; each device gets exactly one answer. */
  async run<R extends CommandResult = CommandResult>(req: FanoutRequest): Promise<FanoutResult<R>> {
    const runId = `rb-${randomUUID()}`
    const startedAt = this.clock.now()
    const bodyOf = typeof req.body === 'function' ? req.body : () => req.body as CommandInput
    const first = req.deviceIds[0]
    const kind: CommandKind = first === undefined ? 'ping' : bodyOf(first).kind
    const total = req.deviceIds.length
    let done = 0
    const answers = await Promise.all(
      req.deviceIds.map(
        (deviceId) =>
          new Promise<DeviceAnswer>((resolve) => {
            const commandId = `${runId}.${deviceId}`
            let settled = false
            const finish = (a: DeviceAnswer): void => {
              if (settled) return
              settled = true
              clearTimeout(timer)
              req.signal?.removeEventListener('abort', abort)
              this.pending.delete(commandId)
              done++
              req.onAnswer?.(a, done, total)
              resolve(a)
            }
            const unreachable = (reason: 'offline' | 'timeout'): DeviceAnswer => ({
              deviceId,
              commandId,
              status: 'unreachable',
              result: null,
              error: null,
              reason,
              elapsedMs: null,
            })
            const abort = (): void => {
              finish(unreachable('timeout'))
              // Whoever asked stopped waiting (timeout, a client gone): the device stops measuring too.
              if (req.offline?.has(deviceId) !== true) this.cancel(deviceId, commandId)
            }
            const timer = setTimeout(abort, req.timeoutMs)
            req.signal?.addEventListener('abort', abort)
            const onPart = req.onPart
            this.pending.set(commandId, {
              deviceId,
              sentAt: this.clock.now(),
              kind,
              settle: finish,
              onPart:
                onPart === undefined
                  ? undefined
                  : (r, part) => {
                      onPart(deviceId, r, part)
                    },
            })
            const body = { ...bodyOf(deviceId), expiresAt: startedAt + req.timeoutMs }
            this.link.publishCommand(deviceId, body, commandId).then(
              () => {
                if (req.offline?.has(deviceId) === true) finish(unreachable('offline'))
              },
              (err: unknown) => {
                this.logger.warn({ err, deviceId }, 'command publish failed')
                finish(unreachable('timeout'))
              },
            )
          }),
      ),
    )
    return { runId, kind, startedAt, finishedAt: this.clock.now(), answers: answers as DeviceAnswer<R>[] }
  }
}
