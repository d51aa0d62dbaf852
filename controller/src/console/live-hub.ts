import type { ServerResponse } from 'node:http'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import { auditEntry, type AuditEntry } from '../telemetry/audit-entry.js'

/** What the hub reads besides the audit stream: active rollouts and their rule states. */
export interface LiveSources {
  /** Ids of the rollouts not yet terminal. */
  activeIds(): Promise<string[]>
  /** A rollout's stored record (null when gone). */
  rollout(id: string): Promise<{ id: string; revision: number } | null>
  /** The last evaluation of a rollout's rules (null before the first). */
  ruleStates(id: string): Promise<{ at: number } | null>
  /** Whether the bearer token is still accepted (re-checked on open streams). */
  tokenValid(token: string): Promise<boolean>
}

export interface LiveHubOptions {
  redis: Redis
  auditKey: string
  sources: LiveSources
  logger: Logger
  /** How often the hub reads Redis while a stream is open. @defaultValue 1000 */
  tickMs?: number
  /** Comment lines that keep idle connections open. @defaultValue 15000 */
  heartbeatMs?: number
  /** How often an open stream's token is checked again. @defaultValue 5000 */
  reauthMs?: number
}

/** At most this many missed audit events are replayed on a reconnect; past that the client is told. */
export const MAX_REPLAY = 2000
/** A client that lets this much output pile up is dropped (it reconnects and catches up). */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024
/** Device ids named in one `fleet` event; a larger change says only how many. */
const MAX_CHANGED_IDS = 200

interface Client {
  res: ServerResponse
  token: string
  checkedAt: number
}

/** Stream ids `ms-seq` compare by both parts. */
export function compareStreamIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number)
  const [bm = 0, bs = 0] = b.split('-').map(Number)
  return am !== bm ? am - bm : as - bs
}

function frame(event: string, data: unknown, id?: string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
}

/**
 * Live updates for the web console over server-sent events. One loop per controller, whatever
 * the number of open tabs, reads what changed in Redis (new audit records, rollout revisions,
 * rule evaluations) and the device changes this controller ingested, and fans it out. Audit
 * records carry their stream id as the event id, so a reconnect with `Last-Event-ID` replays
 * exactly what the client missed. The loop runs only while a stream is open.
 */
export class LiveHub {
  private readonly clients = new Set<Client>()
  private readonly tickMs: number
  private readonly heartbeatMs: number
  private readonly reauthMs: number
  /** The last audit id fanned out; null until the first stream opens. */
  private cursor: string | null = null
  private readonly revisions = new Map<string, number>()
  private readonly ruleTimes = new Map<string, number>()
  private changed = new Set<string>()
  private changedCount = 0
  private timer: NodeJS.Timeout | null = null
  private heartbeat: NodeJS.Timeout | null = null
  /** Ticks and stream openings run one at a time, so a replay and the live feed never interleave. */
  private queue: Promise<void> = Promise.resolve()
  private closed = false

  constructor(private readonly o: LiveHubOptions) {
    this.tickMs = o.tickMs ?? 1000
    this.heartbeatMs = o.heartbeatMs ?? 15_000
    this.reauthMs = o.reauthMs ?? 5000
  }

  /** Open streams. */
  get size(): number {
    return this.clients.size
  }

  /** A device's status or reported state changed (called by ingest; cheap, batched per tick). */
  deviceChanged(id: string): void {
    if (this.clients.size === 0) return
    this.changedCount++
    if (this.changed.size < MAX_CHANGED_IDS) this.changed.add(id)
  }

  /**
   * Serve one stream on `res` (already authorised): replay what the client missed since
   * `lastEventId`, or the last `backlog` audit records on a first connection, then live events.
   */
  open(res: ServerResponse, o: { token: string; lastEventId: string | null; backlog: number }): Promise<void> {
    return this.serial(async () => {
      if (this.closed) {
        res.writeHead(503).end()
        return
      }
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      })
      res.socket?.setTimeout(0)
      res.socket?.setNoDelay(true)
      this.cursor ??= await this.lastAuditId()
      const { entries, gap } = await this.replay(o.lastEventId, o.backlog)
      let out = `retry: 2000\n${frame('hello', { at: Date.now(), replayed: entries.length, gap })}`
      for (const e of entries) out += frame('audit', e, e.id)
      res.write(out)
      const client: Client = { res, token: o.token, checkedAt: Date.now() }
      this.clients.add(client)
      res.on('close', () => {
        this.clients.delete(client)
        if (this.clients.size === 0) this.stop()
      })
      this.startLoop()
    })
  }

  /** End every stream (before the HTTP server closes: open streams would hold it). */
  async close(): Promise<void> {
    this.closed = true
    this.stop()
    await this.queue
    for (const c of this.clients) c.res.end()
    this.clients.clear()
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.queue.then(fn)
    this.queue = run.catch((err: unknown) => {
      this.o.logger.warn({ err }, 'console stream update failed')
    })
    return run
  }

  private async lastAuditId(): Promise<string> {
    const last = await this.o.redis.xrevrange(this.o.auditKey, '+', '-', 'COUNT', 1)
    return last[0]?.[0] ?? '0-0'
  }

  private async replay(lastEventId: string | null, backlog: number): Promise<{ entries: AuditEntry[]; gap: boolean }> {
    const upTo = this.cursor ?? '+'
    if (lastEventId === null) {
      if (backlog === 0) return { entries: [], gap: false }
      const rows = await this.o.redis.xrevrange(this.o.auditKey, upTo, '-', 'COUNT', backlog)
      return { entries: rows.reverse().flatMap(auditEntry), gap: false }
    }
    if (compareStreamIds(lastEventId, upTo) >= 0) return { entries: [], gap: false }
    const rows = await this.o.redis.xrange(this.o.auditKey, `(${lastEventId}`, upTo, 'COUNT', MAX_REPLAY + 1)
    // The oldest record kept is newer than what the client saw: the stream was trimmed past it.
    const first = await this.o.redis.xrange(this.o.auditKey, '-', '+', 'COUNT', 1)
    const trimmed = first[0] !== undefined && compareStreamIds(first[0][0], lastEventId) > 0
    return { entries: rows.slice(0, MAX_REPLAY).flatMap(auditEntry), gap: rows.length > MAX_REPLAY || trimmed }
  }

  private startLoop(): void {
    if (this.timer !== null || this.closed) return
    this.timer = setInterval(() => void this.serial(() => this.tick()), this.tickMs)
    this.heartbeat = setInterval(() => {
      this.broadcast(': ping\n\n')
    }, this.heartbeatMs)
  }

  private stop(): void {
    if (this.timer !== null) clearInterval(this.timer)
    if (this.heartbeat !== null) clearInterval(this.heartbeat)
    this.timer = null
    this.heartbeat = null
    // Nobody is watching: forget what was sent, so the next first stream starts from the present.
    this.cursor = null
    this.revisions.clear()
    this.ruleTimes.clear()
    this.changed = new Set()
    this.changedCount = 0
  }

  private broadcast(chunk: string): void {
    for (const c of this.clients) {
      if (c.res.writableLength > MAX_BUFFERED_BYTES) {
        this.o.logger.warn('console stream dropped: the client does not keep up')
        c.res.destroy()
        continue
      }
      c.res.write(chunk)
    }
  }

  private async tick(): Promise<void> {
    if (this.clients.size === 0) return
    const audit = await this.auditEntries()
    let out = ''
    for (const e of audit) out += frame('audit', e, e.id)
    out += await this.rolloutFrames(audit.flatMap((e) => (e.rolloutId === null ? [] : [e.rolloutId])))
    if (this.changedCount > 0) {
      out += frame('fleet', { changed: this.changedCount, devices: [...this.changed] })
      this.changed = new Set()
      this.changedCount = 0
    }
    if (out !== '') this.broadcast(out)
    await this.reauthorize()
  }

  private async auditEntries(): Promise<AuditEntry[]> {
    const after = this.cursor ?? '0-0'
    const rows = await this.o.redis.xrange(this.o.auditKey, `(${after}`, '+', 'COUNT', 500)
    this.cursor = rows.at(-1)?.[0] ?? after
    return rows.flatMap(auditEntry)
  }

  /**
   * A `rollout` event per new revision of a rollout that is active, just stopped being active, or
   * is named by a new audit record (one that began and ended between two ticks); `rules` per evaluation.
   */
  private async rolloutFrames(named: readonly string[]): Promise<string> {
    const s = this.o.sources
    const active = new Set(await s.activeIds())
    const watched = [...new Set([...active, ...this.revisions.keys(), ...named])]
    let out = ''
    for (const id of watched) {
      const r = await s.rollout(id)
      if (r !== null && this.revisions.get(id) !== r.revision) out += frame('rollout', r)
      if (r === null || !active.has(id)) this.revisions.delete(id)
      else this.revisions.set(id, r.revision)
      const states = active.has(id) ? await s.ruleStates(id) : null
      if (states !== null && this.ruleTimes.get(id) !== states.at) {
        out += frame('rules', { rolloutId: id, states })
        this.ruleTimes.set(id, states.at)
      }
      if (!active.has(id)) this.ruleTimes.delete(id)
    }
    return out
  }

  private async reauthorize(): Promise<void> {
    const now = Date.now()
    for (const c of this.clients) {
      if (now - c.checkedAt < this.reauthMs) continue
      c.checkedAt = now
      if (await this.o.sources.tokenValid(c.token)) continue
      c.res.end(frame('unauthorized', { message: 'the controller no longer accepts this token' }))
      this.clients.delete(c)
    }
  }
}
