import { Queue, Worker, type Job } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import * as z from 'zod'
import { FleetError, isFleetError } from '@liquid-edge/protocol'
import type { StreamLine } from './report.js'

export const RUNBOOK_JOBS_QUEUE = 'runbook-jobs'
/** The verbs that run as jobs: long measurements no client should hold a connection open for. */
export const JOB_VERBS = ['benchmark', 'compare'] as const
export type JobVerb = (typeof JOB_VERBS)[number]

const JobDataSchema = z.object({ verb: z.enum(JOB_VERBS), request: z.record(z.string(), z.unknown()) })

/** How far a job is: devices that answered, devices measuring, samples so far. */
export const JobProgressSchema = z.object({
  devices: z.number().int(),
  answered: z.number().int(),
  measuring: z.number().int(),
  samples: z.number().int(),
  elapsedMs: z.number(),
})
export type JobProgress = z.infer<typeof JobProgressSchema>

export const JobViewSchema = z.object({
  id: z.string(),
  verb: z.enum(JOB_VERBS),
  state: z.enum(['waiting', 'active', 'completed', 'failed', 'cancelled']),
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
  progress: JobProgressSchema.nullable(),
  /** The verb's report once the job finished (a cancelled benchmark reports what was measured until then). */
  report: z.record(z.string(), z.unknown()).nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
})
export type JobView = z.infer<typeof JobViewSchema>

export interface RunbookJobsOptions {
  connection: Redis
  bullPrefix: string
  /** Prefix of the controller's own keys (the cancel flags). */
  prefix: string
  logger: Logger
  /** Run a verb with a signal that aborts on cancel and a sink for its progress lines. */
  run: (verb: JobVerb, request: unknown, signal: AbortSignal, emit: (line: StreamLine) => void) => Promise<Record<string, unknown>>
}

const CANCEL_POLL_MS = 500
/** Finished jobs (their reports) stay this long in Redis. */
const KEEP_S = 7 * 24 * 3600

/**
 * Long runbook verbs as BullMQ jobs: submitted, run by any controller, followed by id, their report
 * kept in Redis. A cancel (from any controller) sets a flag the running job polls; the job's signal
 * aborts, and the verb cancels the command on every device.
 */
export class RunbookJobs {
  private readonly queue: Queue
  private readonly worker: Worker

  constructor(private readonly o: RunbookJobsOptions) {
    const common = { connection: o.connection, prefix: o.bullPrefix }
    this.queue = new Queue(RUNBOOK_JOBS_QUEUE, {
      ...common,
      defaultJobOptions: { removeOnComplete: { age: KEEP_S, count: 1000 }, removeOnFail: { age: KEEP_S, count: 1000 }, attempts: 1 },
    })
    this.worker = new Worker(RUNBOOK_JOBS_QUEUE, (job, _token, signal) => this.process(job, signal), {
      ...common,
      concurrency: 4,
      autorun: false,
    })
    this.worker.on('error', (err) => {
      o.logger.warn({ err }, 'runbook job worker error')
    })
  }

  async start(): Promise<void> {
    await this.queue.waitUntilReady()
    void this.worker.run().catch((err: unknown) => {
      this.o.logger.error({ err }, 'runbook job worker stopped')
    })
    await this.worker.waitUntilReady()
  }

  async close(): Promise<void> {
    this.worker.cancelAllJobs('the controller is stopping')
    await this.worker.close()
    await this.queue.close()
  }

  async submit(verb: JobVerb, request: Record<string, unknown>): Promise<JobView> {
    const job = await this.queue.add(verb, { verb, request })
    return this.view(job)
  }

  /** @throws {FleetError} `RUNBOOK_JOB_NOT_FOUND` */
  async get(id: string): Promise<JobView> {
    const job = await this.queue.getJob(id)
    if (job === undefined) throw new FleetError('RUNBOOK_JOB_NOT_FOUND', `no runbook job ${id} (finished jobs are kept 7 days)`)
    return this.view(job)
  }

  /** Recent jobs, newest first. */
  async list(limit = 50): Promise<JobView[]> {
    const jobs = await this.queue.getJobs(['active', 'waiting', 'delayed', 'completed', 'failed'], 0, limit - 1)
    const views = await Promise.all(jobs.map((j) => this.view(j)))
    return views.sort((a, b) => b.createdAt - a.createdAt)
  }

  /** Stop a job: a waiting one is removed, a running one aborts at once and reports what it measured. */
  async cancel(id: string): Promise<JobView> {
    const job = await this.queue.getJob(id)
    if (job === undefined) throw new FleetError('RUNBOOK_JOB_NOT_FOUND', `no runbook job ${id}`)
    await this.o.connection.set(this.cancelKey(id), '1', 'EX', KEEP_S)
    this.worker.cancelJob(id, 'cancelled')
    if ((await job.getState()) === 'waiting') await job.remove().catch(() => undefined)
    return this.view(job)
  }

  private cancelKey(id: string): string {
    return `${this.o.prefix}:runbook:cancel:${id}`
  }

  private async view(job: Job): Promise<JobView> {
    const data = JobDataSchema.safeParse(job.data)
    const state = await job.getState()
    const cancelled = (await this.o.connection.exists(this.cancelKey(job.id ?? ''))) === 1
    const progress = JobProgressSchema.safeParse(job.progress)
    const report = job.returnvalue as Record<string, unknown> | null | undefined
    const finished = state === 'completed' || state === 'failed'
    return {
      id: job.id ?? '',
      verb: data.success ? data.data.verb : 'benchmark',
      state: cancelled && (finished || state === 'unknown') ? 'cancelled' : finished ? state : state === 'active' ? 'active' : 'waiting',
      createdAt: job.timestamp,
      startedAt: job.processedOn ?? null,
      finishedAt: job.finishedOn ?? null,
      progress: progress.success ? progress.data : null,
      report: report ?? null,
      error: state === 'failed' ? { code: failureCode(job.failedReason), message: job.failedReason } : null,
    }
  }

  private async process(job: Job, signal: AbortSignal | undefined): Promise<Record<string, unknown>> {
    const data = JobDataSchema.parse(job.data)
    const abort = new AbortController()
    signal?.addEventListener('abort', () => {
      abort.abort()
    })
    const poll = setInterval(() => {
      void this.o.connection.exists(this.cancelKey(job.id ?? '')).then((n) => {
        if (n === 1) abort.abort()
      })
    }, CANCEL_POLL_MS)
    const progress = new Tracker(job)
    try {
      return await this.o.run(data.verb, data.request, abort.signal, (line) => {
        progress.on(line)
      })
    } catch (err) {
      throw new Error(isFleetError(err) ? `${err.code}: ${err.message}` : String(err), { cause: err })
    } finally {
      clearInterval(poll)
      await progress.flush()
    }
  }
}

function failureCode(reason: string): string {
  const m = /^([A-Z][A-Z0-9_]{2,63}): /.exec(reason)
  return m?.[1] ?? 'RUNBOOK_JOB_FAILED'
}

const PROGRESS_EVERY_MS = 1000

/** Folds a verb's progress lines into the job's progress (written at most once a second). */
class Tracker {
  private readonly samples = new Map<string, number>()
  private readonly startedAt = Date.now()
  private devices = 0
  private answered = 0
  private writtenAt = 0

  constructor(private readonly job: Job) {}

  on(line: StreamLine): void {
    if (line.type === 'progress') {
      this.devices = line.total
      this.answered = line.done
    }
    if (line.type === 'partial') this.samples.set(line.deviceId, line.samples)
    if (Date.now() - this.writtenAt >= PROGRESS_EVERY_MS) void this.flush()
  }

  async flush(): Promise<void> {
    this.writtenAt = Date.now()
    const progress: JobProgress = {
      devices: this.devices,
      answered: this.answered,
      measuring: this.samples.size,
      samples: [...this.samples.values()].reduce((a, b) => a + b, 0),
      elapsedMs: Date.now() - this.startedAt,
    }
    await this.job.updateProgress(progress).catch(() => undefined)
  }
}
