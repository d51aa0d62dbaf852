import type { Redis } from 'ioredis'
import * as z from 'zod'
import { FleetEventBodySchema, MessageIdSchema } from '@liquid-edge/protocol'
import { route, type RouteDef } from '../api/route.js'
import type { RolloutRepo } from '../rollout/repo.js'
import { RuleSetSchema } from '../rules/rule.js'
import type { RulesStore } from '../rules/rules-store.js'
import { applyBaseline, BaselineSchema } from '../rules/thresholds.js'
import { histQuantile } from './histogram.js'
import type { IngestCounters } from './ingest.js'
import { metricOf } from './window-stats.js'
import type { WindowStore } from './window-store.js'

export interface TelemetryRouteDeps {
  redis: Redis
  auditKey: string
  repo: RolloutRepo
  windows: WindowStore
  rules: RulesStore
  counters: () => IngestCounters
}

const STREAM_ID = /^\d{1,16}-\d{1,10}$/
const RolloutParams = z.strictObject({ id: MessageIdSchema })

/** Audit events after `after` (exclusive), oldest first. */
async function readEvents(d: TelemetryRouteDeps, after: string | undefined, limit: number, rolloutId: string | undefined) {
  const start = after === undefined ? '-' : `(${after}`
  const rows = await d.redis.xrange(d.auditKey, start, '+', 'COUNT', rolloutId === undefined ? limit : limit * 20)
  const events = []
  for (const [id, fields] of rows) {
    const i = fields.indexOf('event')
    const parsed = FleetEventBodySchema.safeParse(JSON.parse(fields[i + 1] ?? '{}'))
    if (!parsed.success || (rolloutId !== undefined && parsed.data.rolloutId !== rolloutId)) continue
    events.push({ id, at: Number(id.split('-')[0]), ...parsed.data })
    if (events.length >= limit) break
  }
  return { events, last: rows.at(-1)?.[0] ?? after ?? null }
}

async function cohortSummaries(d: TelemetryRouteDeps, spanMs: number) {
  const now = Date.now()
  const out = []
  for (const cohort of (await d.windows.cohorts()).sort()) {
    const s = await d.windows.window(cohort, d.windows.bucketOf(now), spanMs)
    if (s.windows === 0) continue
    out.push({
      cohort,
      windows: s.windows,
      devices: s.devices,
      inferenceRate: metricOf('inference_rate', s, spanMs).value,
      errorRate: metricOf('error_rate', s, spanMs).value,
      latencyAvgMs: metricOf('latency_avg', s, spanMs).value,
      latencyP50Ms: histQuantile(s.hist, 0.5),
      latencyP95Ms: histQuantile(s.hist, 0.95),
      latencyP99Ms: histQuantile(s.hist, 0.99),
      powerMw: metricOf('energy_avg', s, spanMs).value,
      temperatureMaxC: s.temperatureMax,
      memoryMax: s.memoryMax,
      gaps: s.gaps,
    })
  }
  return out
}

/** API routes of telemetry, rules and the audit stream (merged into the controller's API). */
export function telemetryRoutes(d: TelemetryRouteDeps): RouteDef[] {
  return [
    route({
      method: 'GET',
      url: '/v1/events',
      summary: 'Audit events (rollout lifecycle, alerts, decisions with evidence), oldest first',
      scope: 'read',
      query: z.strictObject({
        after: z.string().regex(STREAM_ID).optional(),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
        rollout: MessageIdSchema.optional(),
      }),
      handler: ({ query }) => readEvents(d, query.after, query.limit, query.rollout),
    }),
    route({
      method: 'GET',
      url: '/v1/telemetry',
      summary: 'Telemetry per cohort (model version) over a recent span, and ingest counters',
      scope: 'read',
      query: z.strictObject({ spanMs: z.coerce.number().int().min(1).max(86_400_000).default(60_000) }),
      handler: async ({ query }) => ({
        spanMs: query.spanMs,
        bucketMs: d.windows.bucketMs,
        cohorts: await cohortSummaries(d, query.spanMs),
        ingest: d.counters(),
      }),
    }),
    route({
      method: 'GET',
      url: '/v1/rollouts/:id/rules',
      summary: "A rollout's rules and their last evaluation",
      scope: 'read',
      params: RolloutParams,
      handler: async ({ params }) => {
        await d.repo.get(params.id)
        return { ...(await d.rules.get(params.id)), states: await d.rules.states(params.id) }
      },
    }),
    route({
      method: 'POST',
      url: '/v1/rollouts/:id/rules',
      summary: "Replace a rollout's rules (and dry-run flag)",
      scope: 'operate',
      params: RolloutParams,
      body: RuleSetSchema,
      handler: async ({ params, body }) => {
        await d.repo.get(params.id)
        await d.rules.set(params.id, body)
        return d.rules.get(params.id)
      },
    }),
    route({
      method: 'POST',
      url: '/v1/rollouts/:id/thresholds',
      summary: "Set a rollout's rule thresholds from a recorded baseline",
      scope: 'operate',
      params: RolloutParams,
      body: BaselineSchema,
      handler: async ({ params, body }) => {
        await d.repo.get(params.id)
        const next = applyBaseline(await d.rules.get(params.id), body)
        await d.rules.set(params.id, next)
        return next
      },
    }),
  ]
}
