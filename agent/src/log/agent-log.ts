import type { Logger } from 'pino'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export interface LogLine {
  ts: number
  level: LogLevel
  msg: string
}

/**
 * The agent's log: every line goes to the pino logger and into a small ring that the `logs`
 * command reads; followers receive new lines as they are written.
 */
export class AgentLog {
  private readonly ring: LogLine[] = []
  private readonly followers = new Set<(line: LogLine) => void>()

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly capacity = 500,
  ) {}

  write(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    this.logger[level](fields, msg)
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

  recent(n: number): LogLine[] {
    return this.ring.slice(-n)
  }

  follow(fn: (line: LogLine) => void): () => void {
    this.followers.add(fn)
    return () => this.followers.delete(fn)
  }
}
