import type { Logger } from 'pino'
import type { DesiredBody, TelemetryBody } from '@liquid-edge/protocol'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export interface LogLine {
  ts: number
  level: LogLevel
  msg: string
}

/**
 * The agent's log: every line goes to the pino logger and into a small ring that the `logs`
 * command reads; followers receive new lines as they are written. Debug lines reach the ring only
 * while `verbose` is on (a release deployed with the policy's `debug`).
 */
export class AgentLog {
  /** Keep debug lines for the `logs` command (they are many: each telemetry window, each failure). */
  verbose = false
  private readonly ring: LogLine[] = []
  private readonly followers = new Set<(line: LogLine) => void>()

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly capacity = 500,
  ) {}

  write(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    this.logger[level](fields, msg)
    if (level === 'debug' && !this.verbose) return
    const detail = Object.entries(fields)
      .filter(([k]) => k !== 'err')
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ')
    const err = fields.err instanceof Error ? ` err=${fields.err.message}` : ''
    const line: LogLine = { ts: this.now(), level, msg: `${msg}${detail === '' ? '' : ' ' + detail}${err}`.slice(0, 4096) }
    this.ring.push(line)
    if (this.ring.length > this.capacity) this.ring.shift()
    for (const f of this.followers) f(line)
  }

  /**
   * Keep debug lines while the newest desired state's policy asks for them (`liquid-lln deploy
   * --debug`); a state older than `applied` (the generation acted on) changes nothing. Returns `desired`.
   */
  debugFor(desired: DesiredBody, applied: number): DesiredBody {
    const on = desired.policy.debug
    if (desired.generation < applied || on === this.verbose) return desired
    if (!on) this.write('info', 'debug logging off')
    this.verbose = on
    if (on) this.write('info', 'debug logging on', { generation: desired.generation, rolloutId: desired.rolloutId })
    return desired
  }

  /** A telemetry window's figures, as a debug line. */
  window(w: TelemetryBody): void {
    if (!this.verbose) return
    this.write('debug', 'telemetry window', {
      seq: w.seq,
      model: w.model === null ? null : `${w.model.name}@${w.model.version}`,
      inferences: w.inferences,
      errors: w.errors,
      ...(w.latencyMs == null ? {} : { p50Ms: w.latencyMs.p50, p95Ms: w.latencyMs.p95, maxMs: w.latencyMs.max }),
      powerMw: w.energy?.avgMw ?? null,
      temperatureC: w.temperatureC,
      memoryBytes: w.memory?.usedBytes ?? null,
    })
  }

  recent(n: number): LogLine[] {
    return this.ring.slice(-n)
  }

  follow(fn: (line: LogLine) => void): () => void {
    this.followers.add(fn)
    return () => this.followers.delete(fn)
  }
}
