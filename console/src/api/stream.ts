import { createParser } from 'eventsource-parser'

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'stopped'

export interface StreamStatus {
  state: StreamState
  /** When reconnecting: the next attempt in this many ms. */
  retryInMs?: number
  /** Why the last connection ended. */
  reason?: string
}

export interface LiveStreamOptions {
  token: () => string | null
  onEvent: (event: string, data: unknown, id: string | undefined) => void
  onStatus: (status: StreamStatus) => void
  /** The controller refused the token (at connect, or later on an open stream). */
  onUnauthorized: (message: string) => void
  /** Audit records to receive on a first connection. @defaultValue 500 */
  backlog?: number
  /** No byte (not even a heartbeat) for this long: the connection is dead. @defaultValue 40000 */
  idleMs?: number
}

/** Back-off before reconnect attempt `attempt` (1, 2, …): 1 s doubling to 15 s, with ±20% jitter so tabs do not reconnect in step. */
export function nextDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(15_000, 1000 * 2 ** Math.max(0, attempt - 1))
  return Math.round(base * (0.8 + 0.4 * random()))
}

/**
 * The controller's live stream (`GET /v1/stream`, server-sent events) read with fetch, so it
 * carries the bearer token like every API call. It reconnects with back-off, and sends the id of
 * the last audit record it saw (`Last-Event-ID`) so the controller replays what was missed.
 */
export class LiveStream {
  /** The id of the last audit record received. */
  lastEventId: string | null = null
  private ac: AbortController | null = null
  private stopped = true
  /** Whether a connection got as far as the controller's hello: a break after that is a reconnection. */
  private everLive = false

  constructor(private readonly o: LiveStreamOptions) {}

  start(): void {
    if (!this.stopped) return
    this.stopped = false
    void this.run()
  }

  stop(): void {
    this.stopped = true
    this.ac?.abort()
    this.o.onStatus({ state: 'stopped' })
  }

  /** Drop the current connection and connect again now (e.g. after the browser comes back online). */
  reconnect(): void {
    this.ac?.abort()
  }

  private isStopped(): boolean {
    return this.stopped
  }

  private async run(): Promise<void> {
    let attempt = 0
    while (!this.stopped) {
      this.o.onStatus({ state: attempt === 0 && !this.everLive ? 'connecting' : 'reconnecting' })
      let reason = 'the connection closed'
      try {
        if (await this.connect()) attempt = 0
      } catch (err) {
        reason = err instanceof Error ? err.message : String(err)
      }
      // connect() stops the stream when the token is refused.
      if (this.isStopped()) return
      attempt++
      const delay = nextDelay(attempt)
      this.o.onStatus({ state: 'reconnecting', retryInMs: delay, reason })
      await new Promise((resolve) => setTimeout(resolve, delay))
    }
  }

  /** One connection, until it ends. @returns whether it got as far as the controller's hello. */
  private async connect(): Promise<boolean> {
    const token = this.o.token()
    if (token === null) {
      this.stop()
      return false
    }
    const ac = new AbortController()
    this.ac = ac
    const query = this.lastEventId === null ? `?backlog=${this.o.backlog ?? 500}` : ''
    const res = await fetch(`/v1/stream${query}`, {
      headers: { authorization: `Bearer ${token}`, ...(this.lastEventId === null ? {} : { 'last-event-id': this.lastEventId }) },
      cache: 'no-store',
      signal: ac.signal,
    })
    if (res.status === 401) {
      this.stopped = true
      this.o.onUnauthorized('The controller no longer accepts your token.')
      return false
    }
    if (!res.ok || res.body === null) throw new Error(`the stream answered HTTP ${res.status}`)
    let greeted = false
    const parser = createParser({
      onEvent: (m) => {
        if (m.id !== undefined) this.lastEventId = m.id
        let data: unknown
        try {
          data = JSON.parse(m.data)
        } catch {
          return
        }
        if (m.event === 'hello') {
          greeted = true
          this.everLive = true
          this.o.onStatus({ state: 'live' })
        }
        if (m.event === 'unauthorized') {
          this.stopped = true
          ac.abort()
          this.o.onUnauthorized('The controller no longer accepts your token.')
          return
        }
        this.o.onEvent(m.event ?? 'message', data, m.id)
      },
    })
    await this.read(res.body, ac, (chunk) => {
      parser.feed(chunk)
    })
    return greeted
  }

  private async read(body: ReadableStream<Uint8Array>, ac: AbortController, feed: (chunk: string) => void): Promise<void> {
    const reader = body.getReader()
    const decoder = new TextDecoder()
    const idleMs = this.o.idleMs ?? 40_000
    let watchdog = setTimeout(() => {
      ac.abort()
    }, idleMs)
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return
        clearTimeout(watchdog)
        watchdog = setTimeout(() => {
          ac.abort()
        }, idleMs)
        feed(decoder.decode(value, { stream: true }))
      }
    } catch (err) {
      if (!this.stopped && ac.signal.aborted) throw new Error('the controller went silent', { cause: err })
      throw err
    } finally {
      clearTimeout(watchdog)
    }
  }
}
