import type { Redis } from 'ioredis'
import { pino, type Logger } from 'pino'
import type { RouteDef } from '../api/route.js'
import type { Clock } from '../clock.js'
import type { ModelStore } from '../models/model-store.js'
import type { LiveStore } from '../registry/live.js'
import type { Registry } from '../registry/registry.js'
import { CommandFanout, type CommandLink } from './fanout.js'
import { jobRoutes } from './job-routes.js'
import { RunbookJobs, type JobVerb } from './jobs.js'
import type { StreamLine } from './report.js'
import { BenchmarkRequestSchema } from './requests.js'
import { runbookRoutes } from './routes.js'
import { benchmark, compare, CompareRequestSchema } from './verbs/benchmark.js'
import type { RunbookContext } from './verbs/context.js'
import type { TelemetryReader } from './tracker.js'

export interface RunbookOptions {
  link: CommandLink
  registry: Registry
  live: LiveStore
  models: ModelStore
  clock: Clock
  logger?: Logger
  /** Where device telemetry is read from: the telemetry windows the rules read. */
  telemetry: TelemetryReader
  /** Long verbs (benchmark, compare) as BullMQ jobs; without it their job routes answer CONFIG_INVALID. */
  jobs?: { connection: Redis; bullPrefix: string; prefix: string }
}

/** The runbook verbs: a command fan-out, a telemetry reader, and their API routes. */
export interface Runbook {
  readonly fanout: CommandFanout
  readonly telemetry: TelemetryReader
  readonly routes: RouteDef[]
  readonly jobs: RunbookJobs | null
  start(): Promise<void>
  close(): Promise<void>
}

export function createRunbook(o: RunbookOptions): Runbook {
  const fanout = new CommandFanout(o.link, o.clock, o.logger)
  const telemetry = o.telemetry
  const base = { registry: o.registry, live: o.live, models: o.models, fanout, telemetry, clock: o.clock }
  const run = (verb: JobVerb, request: unknown, signal: AbortSignal, emit: (line: StreamLine) => void) => {
    const ctx: RunbookContext = { ...base, signal, emit }
    const job =
      verb === 'benchmark' ? benchmark(ctx, BenchmarkRequestSchema.parse(request)) : compare(ctx, CompareRequestSchema.parse(request))
    return job as Promise<unknown> as Promise<Record<string, unknown>>
  }
  const jobs = o.jobs === undefined ? null : new RunbookJobs({ ...o.jobs, logger: o.logger ?? pino({ level: 'silent' }), run })
  const routes = [...runbookRoutes(base), ...jobRoutes({ jobs, registry: o.registry, live: o.live })]
  return {
    fanout,
    telemetry,
    routes,
    jobs,
    async start() {
      await jobs?.start()
    },
    async close() {
      await jobs?.close()
      fanout.close()
    },
  }
}
