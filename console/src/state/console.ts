import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import { ApiClient, ApiError, explain } from '../api/client.js'
import {
  AuditEntrySchema,
  FleetEventSchema,
  HelloSchema,
  RolloutSchema,
  RulesEventSchema,
  WhoAmISchema,
  type AuditEntry,
  type Rollout,
  type RuleStates,
  type WhoAmI,
} from '../api/schemas.js'
import { LiveStream, type StreamStatus } from '../api/stream.js'
import { Bus, createStore, type Store } from './store.js'

export interface Session {
  token: string | null
  who: WhoAmI | null
  /** Why the last session ended (shown on the login form), or null. */
  ended: string | null
}

export interface Connection {
  stream: StreamStatus
  /** Whether the last API call reached the controller. */
  reachable: boolean
  /** The last reconnection: when, how many missed records it replayed, whether more were lost. */
  reconnected: { at: number; replayed: number; gap: boolean } | null
}

export interface LiveEvents extends Record<string, unknown> {
  audit: AuditEntry
  rollout: Rollout
  rules: { rolloutId: string; states: RuleStates }
  fleet: { changed: number; devices: string[] }
  /** The stream is back after a break: views re-read what they show. */
  reconnected: { replayed: number; gap: boolean }
}

/** The audit records kept in the page (newest last). */
const MAX_AUDIT = 3000
const TOKEN_KEY = 'lln.console.token'

/** Everything the views share: the session, the API client, the live stream and what it brought. */
export class ConsoleState {
  readonly session: Store<Session>
  readonly connection: Store<Connection> = createStore<Connection>({ stream: { state: 'stopped' }, reachable: true, reconnected: null })
  readonly audit: Store<AuditEntry[]> = createStore<AuditEntry[]>([])
  readonly bus = new Bus<LiveEvents>()
  readonly api: ApiClient
  readonly stream: LiveStream
  private greeted = false

  constructor(private readonly storage: Storage) {
    this.session = createStore<Session>({ token: storage.getItem(TOKEN_KEY), who: null, ended: null })
    this.api = new ApiClient({
      token: () => this.session.get().token,
      onUnauthorized: (message) => {
        this.end(message)
      },
      onReachable: (reachable) => {
        if (this.connection.get().reachable !== reachable) this.connection.set((c) => ({ ...c, reachable }))
      },
    })
    this.stream = new LiveStream({
      token: () => this.session.get().token,
      onStatus: (stream) => {
        this.connection.set((c) => ({ ...c, stream }))
      },
      onUnauthorized: (message) => {
        this.end(message)
      },
      onEvent: (event, data) => {
        this.dispatch(event, data)
      },
    })
  }

  /** Resume a session kept in this tab (after a reload). */
  async resume(): Promise<void> {
    const { token } = this.session.get()
    if (token === null) return
    try {
      await this.login(token)
    } catch (err) {
      this.end(err instanceof ApiError && err.kind === 'unauthorized' ? 'the controller no longer accepts your token.' : explain(err))
    }
  }

  /** Check a token with the controller and make it the session's. @throws {ApiError} */
  async login(token: string): Promise<void> {
    const who = await this.api.call('GET', '/v1/whoami', undefined, WhoAmISchema, undefined, token)
    this.storage.setItem(TOKEN_KEY, token)
    this.session.set({ token, who, ended: null })
    this.stream.start()
  }

  logout(): void {
    this.end(null)
  }

  /** Whether the session may do what needs `scope` (the controller decides; this only labels buttons). */
  can(scope: 'operate' | 'admin'): boolean {
    const scopes = this.session.get().who?.scopes ?? []
    return scopes.includes('admin') || (scope === 'operate' && scopes.includes('operate'))
  }

  private end(reason: string | null): void {
    this.stream.stop()
    this.storage.removeItem(TOKEN_KEY)
    this.session.set({ token: null, who: null, ended: reason === null ? null : `Your session ended: ${reason} Log in again to continue.` })
  }

  private dispatch(event: string, data: unknown): void {
    switch (event) {
      case 'hello': {
        const hello = HelloSchema.safeParse(data)
        if (!hello.success) return
        if (this.greeted) {
          this.connection.set((c) => ({ ...c, reconnected: { at: Date.now(), replayed: hello.data.replayed, gap: hello.data.gap } }))
          this.bus.emit('reconnected', { replayed: hello.data.replayed, gap: hello.data.gap })
        }
        this.greeted = true
        return
      }
      case 'audit':
        this.addAudit(data)
        return
      case 'rollout': {
        const r = RolloutSchema.safeParse(data)
        if (r.success) this.bus.emit('rollout', r.data)
        return
      }
      case 'rules': {
        const r = RulesEventSchema.safeParse(data)
        if (r.success) this.bus.emit('rules', r.data)
        return
      }
      case 'fleet': {
        const r = FleetEventSchema.safeParse(data)
        if (r.success) this.bus.emit('fleet', r.data)
        return
      }
    }
  }

  private addAudit(data: unknown): void {
    const r = AuditEntrySchema.safeParse(data)
    if (!r.success) return
    const list = this.audit.get()
    if (list.some((e) => e.id === r.data.id)) return
    this.audit.set([...list.slice(-(MAX_AUDIT - 1)), r.data])
    this.bus.emit('audit', r.data)
  }
}

export const ConsoleContext = createContext<ConsoleState | null>(null)

/** The console's shared state (inside the app). */
export function useConsole(): ConsoleState {
  const c = useContext(ConsoleContext)
  if (c === null) throw new Error('useConsole outside ConsoleContext')
  return c
}
