import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { Keys } from '../keys.js'
import { takeLease } from '../lease.js'
import type { LiveStore } from '../registry/live.js'
import { parseDesiredRecord, type DesiredRecord, type DesiredStates } from './desired-states.js'
import type { PendingCommands } from './pending-commands.js'

/** What set a reconciliation going. */
export type Trigger = 'start' | 'reconnect' | 'online' | 'sweep'

export interface DesiredReconcilerOptions {
  redis: Redis
  keys: Keys
  desired: DesiredStates
  commands: PendingCommands
  live: LiveStore
  clock: Clock
  logger: Logger
  /** Lease owner for the periodic sweep (one controller sweeps at a time). */
  instanceId: string
  /** Period of the sweep step and of the checks of devices that came online. */
  periodMs: number
  /** Devices per sweep step and per batch of a full pass. */
  batch: number
  /** How long after a device comes online it is checked (its retained desired state reaches it first). */
  graceMs: number
  /** Counts what was sent again. */
  onResent?: (trigger: Trigger, kind: 'desired' | 'command', n: number) => void
}

export interface PassResult {
  checked: number
  /** Desired states sent again (the device is behind its record). */
  republished: number
  /** Pending rollout commands sent again (to online devices). */
  commands: number
  /** Records that could not be rebuilt (an older record, a model no longer in the store). */
  unrebuildable: number
}

/**
 * The controller's desired states are its truth; the broker's retained messages only carry them.
 * The reconciler compares each device's record with what the device reports, and sends again what
 * a broker lost (a restart without persistence loses every retained message) — idempotent by
 * generation: a device ignores a generation it has acted on. It runs a full pass on start and on
 * every broker reconnect (the two moments a broker may have lost everything), checks a device a
 * moment after it comes online, and sweeps the fleet a bounded batch at a time with a cursor, so a
 * period costs `batch` devices, never the whole fleet.
 */
export class DesiredReconciler {
  private timer: ReturnType<typeof setTimeout> | null = null
  private cursor = '0'
  private closed = false
  private running: Promise<void> = Promise.resolve()
  private full: Promise<PassResult> | null = null

  constructor(private readonly o: DesiredReconcilerOptions) {}

  /** Full pass now (in the background) and the periodic steps. */
  start(): void {
    void this.fullPass('start').catch(() => undefined)
    this.arm()
  }

  /** The broker connection came back: it may have lost every retained message. */
  reconnected(): void {
    void this.fullPass('reconnect').catch(() => undefined)
  }

  /** A device came online: check it after the grace (its retained state, if the broker has it, arrives first). */
  async deviceOnline(deviceId: string): Promise<void> {
    await this.o.redis.zadd(this.o.keys.reconcileDue, this.o.clock.now() + this.o.graceMs, deviceId)
  }

  /**
   * Every record, a batch at a time: devices behind their record get it again, online devices
   * their pending rollout command. Concurrent requests share one pass.
   */
  fullPass(trigger: 'start' | 'reconnect'): Promise<PassResult> {
    this.full ??= this.serial(async () => {
      const total: PassResult = { checked: 0, republished: 0, commands: 0, unrebuildable: 0 }
      let cursor = '0'
      do {
        const [next, flat] = await this.o.redis.hscan(this.o.keys.desired, cursor, 'COUNT', this.o.batch)
        cursor = next
        add(total, await this.check(pairs(flat), trigger, false))
      } while (cursor !== '0' && !this.closed)
      this.o.logger.info({ trigger, ...total }, 'desired states reconciled')
      return total
    }).finally(() => {
      this.full = null
    })
    return this.full
  }

  /** One periodic step: the devices due for a check, then one batch of the sweep (if this controller holds the lease). */
  async step(): Promise<PassResult> {
    return this.serial(async () => {
      const total: PassResult = { checked: 0, republished: 0, commands: 0, unrebuildable: 0 }
      const now = this.o.clock.now()
      const due = await this.o.redis.zrangebyscore(this.o.keys.reconcileDue, '-inf', now, 'LIMIT', 0, this.o.batch)
      if (due.length > 0) {
        await this.o.redis.zrem(this.o.keys.reconcileDue, ...due)
        const recs = await this.o.desired.records(due)
        add(total, await this.check(withRecords(due, recs), 'online', true))
      }
      if (!(await takeLease(this.o.redis, this.o.keys.reconcileLease, this.o.instanceId, this.o.periodMs * 3))) return total
      const [next, flat] = await this.o.redis.hscan(this.o.keys.desired, this.cursor, 'COUNT', this.o.batch)
      this.cursor = next
      // The sweep sends only to devices online now: an offline one is checked when it comes back.
      add(total, await this.check(pairs(flat), 'sweep', true))
      return total
    })
  }

  /** Compare records with reports; send again what is missing. */
  private async check(entries: readonly [string, DesiredRecord][], trigger: Trigger, onlineOnly: boolean): Promise<PassResult> {
    const r: PassResult = { checked: entries.length, republished: 0, commands: 0, unrebuildable: 0 }
    if (entries.length === 0) return r
    const views = await this.o.live.views(entries.map(([id]) => id))
    const online: string[] = []
    for (const [i, [id, rec]] of entries.entries()) {
      const v = views[i]
      const isOnline = v?.status?.online === true
      if (isOnline) online.push(id)
      if (onlineOnly && !isOnline) continue
      const rep = v?.reported ?? null
      if (!rec.retained || (rep !== null && rep.generation >= rec.gen)) continue
      if (await this.o.desired.republish(id, rec)) r.republished++
      else r.unrebuildable++
    }
    r.commands = await this.o.commands.resend(online, this.o.clock.now())
    if (r.republished > 0) this.o.onResent?.(trigger, 'desired', r.republished)
    if (r.commands > 0) this.o.onResent?.(trigger, 'command', r.commands)
    return r
  }

  /** Passes and steps never overlap (a full pass after a reconnect can be long). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.running.then(fn)
    this.running = run.then(
      () => undefined,
      (err: unknown) => {
        this.o.logger.warn({ err }, 'desired-state reconciliation failed')
      },
    )
    return run
  }

  private arm(): void {
    if (this.closed) return
    this.timer = setTimeout(() => {
      this.step()
        .catch(() => undefined)
        .finally(() => {
          this.arm()
        })
    }, this.o.periodMs)
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.timer !== null) clearTimeout(this.timer)
    await this.running
  }
}

function add(total: PassResult, r: PassResult): void {
  total.checked += r.checked
  total.republished += r.republished
  total.commands += r.commands
  total.unrebuildable += r.unrebuildable
}

/** HSCAN's flat [field, value, …] as parsed records. */
function pairs(flat: readonly string[]): [string, DesiredRecord][] {
  const out: [string, DesiredRecord][] = []
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const rec = parseDesiredRecord(flat[i + 1])
    const id = flat[i]
    if (rec !== null && id !== undefined) out.push([id, rec])
  }
  return out
}

function withRecords(ids: readonly string[], recs: readonly (DesiredRecord | null)[]): [string, DesiredRecord][] {
  const out: [string, DesiredRecord][] = []
  for (const [i, id] of ids.entries()) {
    const rec = recs[i]
    if (rec !== null && rec !== undefined) out.push([id, rec])
  }
  return out
}
