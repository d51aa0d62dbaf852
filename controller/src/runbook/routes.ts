import type * as z from 'zod'
import { streamLines, wantsLines } from '../api/ndjson.js'
import { route, type RouteDef } from '../api/route.js'
import type { Scope } from '../api/tokens.js'
import type { StreamLine } from './report.js'
import {
  EvaluateRequestSchema,
  HealthRequestSchema,
  BenchmarkRequestSchema,
  LogsRequestSchema,
  ProfileRequestSchema,
  ScenarioRequestSchema,
  VerifyRequestSchema,
} from './requests.js'
import { resolveTarget } from './target.js'
import { analyze, AnalyzeRequestSchema } from './verbs/analyze.js'
import { benchmark, compare, CompareRequestSchema } from './verbs/benchmark.js'
import { evaluate, scenario, verify } from './verbs/checks.js'
import type { RunbookContext } from './verbs/context.js'
import { health } from './verbs/health.js'
import { logs } from './verbs/logs.js'
import { profile } from './verbs/profile.js'
import { status, StatusRequestSchema } from './verbs/status.js'

type Base = Omit<RunbookContext, 'emit' | 'signal'>

/**
 * POST a verb's request; the answer is its report (JSON). With `Accept: application/x-ndjson` the
 * answer streams: `progress` and `log` lines as devices answer, then one `report` line (or `error`).
 */
function verbRoute<S extends z.ZodType<{ target: string }>>(
  base: Base,
  verb: string,
  summary: string,
  scope: Scope,
  schema: S,
  run: (ctx: RunbookContext, req: z.output<S>) => Promise<unknown>,
): RouteDef {
  return route({
    method: 'POST',
    url: `/v1/runbook/${verb}`,
    summary,
    scope,
    body: schema,
    handler: async ({ body, raw, reply }) => {
      const req = body as z.output<S>
      await resolveTarget(base.registry, base.live, req.target) // unknown targets: a 404 before anything streams
      if (!wantsLines(raw)) {
        // The response closing before the report was written means the client went away: the devices stop measuring.
        const abort = new AbortController()
        reply.raw.on('close', () => {
          if (!reply.raw.writableFinished) abort.abort()
        })
        return run({ ...base, signal: abort.signal }, req)
      }
      return streamLines<StreamLine>(reply, async (write, signal) => {
        const report = await run({ ...base, emit: write, signal }, req)
        return { type: 'report', report: report as Extract<StreamLine, { type: 'report' }>['report'] }
      })
    },
  })
}

/** The runbook's API: one POST route per verb under `/v1/runbook/`. */
export function runbookRoutes(base: Base): RouteDef[] {
  return [
    verbRoute(
      base,
      'verify',
      'Run a test suite on every device of a target; pass only if every reachable device passed',
      'operate',
      VerifyRequestSchema,
      verify,
    ),
    verbRoute(
      base,
      'profile',
      'Profile latency or energy: fleet quantiles, per-hardware breakdown, outliers',
      'operate',
      ProfileRequestSchema,
      profile,
    ),
    verbRoute(base, 'evaluate', "Accuracy per device and overall against the model's minimum", 'operate', EvaluateRequestSchema, evaluate),
    verbRoute(
      base,
      'health',
      'Online/offline, last seen, error rate, temperature, memory, version mix',
      'read',
      HealthRequestSchema,
      health,
    ),
    verbRoute(
      base,
      'benchmark',
      'Measure a baseline per model version, hardware class and percentile',
      'operate',
      BenchmarkRequestSchema,
      benchmark,
    ),
    verbRoute(base, 'compare', 'Measure again and compare with a baseline: a verdict per metric', 'operate', CompareRequestSchema, compare),
    verbRoute(
      base,
      'analyze',
      'Rank the hardware classes and devices that explain a performance regression',
      'operate',
      AnalyzeRequestSchema,
      analyze,
    ),
    verbRoute(
      base,
      'status',
      'Ask devices for storage, memory or slots (a device id or a selector)',
      'operate',
      StatusRequestSchema,
      status,
    ),
    verbRoute(base, 'logs', 'Recent log lines of devices; follow streams further lines', 'operate', LogsRequestSchema, logs),
    verbRoute(
      base,
      'test',
      'End-to-end scenario: golden vectors through every device, checked against the stored package',
      'operate',
      ScenarioRequestSchema,
      scenario,
    ),
  ]
}
