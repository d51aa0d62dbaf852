import { Queue, Worker, type Job } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import * as z from 'zod'
import type { FleetEventBody } from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'
import type { Effect } from './effects.js'
import type { Executor } from './executor.js'
import { observe, type ObserveDeps } from './observe.js'
import { step } from './state-machine.js'
import { TERMINAL_STATES, type Rollout } from './types.js'

export const QUEUE_NAME = 'rollouts'
const TickDataSchema = z.object({ rolloutId: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/) })

export interface EngineOptions extends ObserveDeps {
  connection: Redis
  bullPrefix: string
  executor: Executor
  clock: Clock
  logger: Logger
  instanceId: string
  tickMs: number
  leaseMs: number
  /** Called after each stored transition (metrics, events to listeners). */
  onTransition?: (r: Rollout) => void
}

export function eventBody(r: Rollout, e: Extract<Effect, { type: 'event' }>): FleetEventBody {
  return {
    event: e.event,
    rolloutId: e.about ?? r.id,
    state: r.state,
    severity: e.severity,
    message: e.message,
    model: { name: r.model.name, version: r.model.version },
    ...(e.step === undefined ? {} : { step: e.step }),
    ...(e.devices === undefined ? {} : { devices: e.devices }),
  }
}

/**
 * Drives rollouts: a BullMQ job scheduler ticks each active rollout; a tick takes the rollout's
 * lease, observes, runs the pure `step`, applies effects and stores the result with compare-and-set.
 */
export class RolloutEngine {
  private readonly queue: Queue
  private readonly worker: Worker
  private closed = false
  /** Ticks in flight per rollout in this process: a second request coalesces into one re-run. */
  private readonly inFlight = new Map<string, { again: boolean; done: Promise<boolean> }>()
  private readonly lastNudge = new Map<string, number>()

  constructor(private readonly o: EngineOptions) {
    const common = { connection: o.connection, prefix: o.bullPrefix }
    this.queue = new Queue(QUEUE_NAME, { ...common, defaultJobOptions: { removeOnComplete: 100, removeOnFail: 500 } })
    this.worker = new Worker(QUEUE_NAME, (job: Job) => this.process(job), { ...common, concurrency: 4, autorun: false })
    this.worker.on('error', (err) => {
      o.logger.warn({ err }, 'rollout worker error')
    })
  }

  async start(): Promise<void> {
    await this.queue.waitUntilReady()
    void this.worker.run().catch((err: unknown) => {
      this.o.logger.error({ err }, 'rollout worker stopped')
    })
    await this.worker.waitUntilReady()
    for (const id of await this.o.repo.activeIds()) await this.schedule(id)
  }

  /** Make sure an active rollout ticks (idempotent). */
  async schedule(rolloutId: string): Promise<void> {
    await this.queue.upsertJobScheduler(
      `rollout-${rolloutId}`,
      { every: this.o.tickMs },
      { name: 'tick', data: { rolloutId }, opts: { removeOnComplete: 50, removeOnFail: 50 } },
    )
  }

  /** Ask for a tick soon (coalesced per 100 ms by a deterministic job id). */
  async nudge(rolloutId: string): Promise<void> {
    // Rollout ids come back from devices: only well-formed ones become job ids.
    if (this.closed || !TickDataSchema.shape.rolloutId.safeParse(rolloutId).success) return
    const slot = Math.floor(this.o.clock.now() / 100)
    // Thousands of reports a second coalesce here before they cost a Redis round trip each.
    if (this.lastNudge.get(rolloutId) === slot) return
    this.lastNudge.set(rolloutId, slot)
    if (this.lastNudge.size > 10_000) this.lastNudge.clear()
    await this.queue.add('tick', { rolloutId }, { jobId: `rollout-${rolloutId}-nudge-${slot}`, removeOnComplete: true, removeOnFail: true })
  }

  private async process(job: Job): Promise<void> {
    const data = TickDataSchema.safeParse(job.data)
    if (!data.success) {
      this.o.logger.warn({ jobId: job.id }, 'invalid tick job data')
      return
    }
    await this.tick(data.data.rolloutId)
  }

  /** One tick of one rollout; concurrent requests in this process coalesce (never two at once). */
  tick(rolloutId: string): Promise<boolean> {
    const running = this.inFlight.get(rolloutId)
    if (running !== undefined) {
      running.again = true
      return running.done
    }
    const entry = { again: false, done: Promise.resolve(true) }
    entry.done = (async () => {
      try {
        let result = await this.tickOnce(rolloutId)
        while (entry.again && !this.closed) {
          entry.again = false
          result = await this.tickOnce(rolloutId)
        }
        return result
      } finally {
        this.inFlight.delete(rolloutId)
      }
    })()
    this.inFlight.set(rolloutId, entry)
    return entry.done
  }

  /** Returns false when another controller holds the lease. */
  private async tickOnce(rolloutId: string): Promise<boolean> {
    const { repo, instanceId, leaseMs } = this.o
    if (!(await repo.lease(rolloutId, instanceId, leaseMs))) return false
    const r = await repo.find(rolloutId)
    if (r === null || (TERMINAL_STATES.has(r.state) && r.finalized)) {
      await this.queue.removeJobScheduler(`rollout-${rolloutId}`)
      await repo.releaseLease(rolloutId, instanceId)
      return true
    }
    const { obs, progress } = await observe(this.o, r)
    const now = this.o.clock.now()
    const { next, effects } = step(r, obs, now, progress)
    const byId = new Map(obs.devices.map((d) => [d.id, d]))
    const returned = await this.o.executor.apply(r, effects, byId, progress)
    const events = [
      ...effects.filter((e): e is Extract<Effect, { type: 'event' }> => e.type === 'event').map((e) => eventBody(next, e)),
      ...returned.map((e) => ({ ...e, state: next.state })),
    ]
    const stored = { ...next, revision: r.revision + 1, updatedAt: next.updatedAt }
    if (!(await repo.cas(stored, events))) return true
    await this.o.executor.publishEvents(events)
    this.o.onTransition?.(stored)
    if (TERMINAL_STATES.has(stored.state) && stored.finalized) {
      await this.queue.removeJobScheduler(`rollout-${rolloutId}`)
      return true
    }
    // A paused rollout costs nothing: no periodic tick, only the nudges of device reports, rules and
    // operators (resuming schedules it again).
    if (stored.state === 'paused') await this.queue.removeJobScheduler(`rollout-${rolloutId}`)
    if (stored.state !== r.state || stored.step !== r.step || TERMINAL_STATES.has(stored.state)) await this.nudge(rolloutId)
    return true
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.worker.close()
    await this.queue.close()
  }
}
