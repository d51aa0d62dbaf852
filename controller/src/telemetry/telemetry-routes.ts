import type { Redis } from 'ioredis'
import * as z from 'zod'
import { MessageIdSchema, latencyQuantile } from '@liquid-edge/protocol'
import { route, type RouteDef } from '../api/route.js'
import type { RolloutRepo } from '../rollout/repo.js'
import { RuleSetSchema } from '../rules/rule.js'
import type { RulesStore } from '../rules/rules-store.js'
import { auditEntry } from './audit-entry.js'
import { targetCohorts, type TargetDevice } from './target-cohorts.js'
import type { IngestCounters } from './ingest.js'
import { mergeStats, metricOf, type WindowStats } from './window-stats.js'
import type { WindowStore } from './window-store.js'

export interface TelemetryRouteDeps {
  redis: Redis
  /** The devices a target names (group, device id, label value, selector) and what each runs now. */
  devicesOf: (target: string) => Promise<TargetDevice[]>
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
  for (const e of rows.flatMap(auditEntry)) {
    if (rolloutId !== undefined && e.rolloutId !== rolloutId) continue
    events.push(e)
    if (events.length >= limit) break
  }
  return { events, last: rows.at(-1)?.[0] ?? after ?? null }
}

const figure = z.number().nullable()
/** What the API says about telemetry folded over a span: the figures of `/v1/telemetry` and of each point of a series. */
export const FiguresSchema = z.object({
  windows: z.number(),
  devices: z.number(),
  inferenceRate: figure,
  /** errors ÷ inferences */
  errorRate: figure,
  latencyAvgMs: figure,
  latencyP50Ms: figure,
  latencyP95Ms: figure,
  latencyP99Ms: figure,
  latencyMaxMs: figure,
  /** Windows of older agents (latency quantiles only): the latency figures are approximate when > 0. */
  approximateWindows: z.number(),
  powerMw: figure,
  temperatureMaxC: figure,
  temperatureMeanC: figure,
  memoryMax: figure,
  memoryUsedMaxBytes: figure,
  agreement: figure,
  accuracy: figure,
  gaps: z.number(),
})

/** Each cohort's figures per time step (`GET /v1/telemetry/series`). */
export const SeriesSchema = z.object({
  bucketMs: z.number(),
  stepMs: z.number(),
  from: z.number(),
  to: z.number(),
  series: z.array(z.object({ cohort: z.string(), points: z.array(FiguresSchema.extend({ at: z.number() })) })),
})

function figuresOf(s: WindowStats, spanMs: number): z.infer<typeof FiguresSchema> {
  return {
    windows: s.windows,
    devices: s.devices,
    inferenceRate: metricOf('inference_rate', s, spanMs).value,
    errorRate: metricOf('error_rate', s, spanMs).value,
    latencyAvgMs: metricOf('latency_avg', s, spanMs).value,
    latencyP50Ms: latencyQuantile(s.latency, 0.5),
    latencyP95Ms: latencyQuantile(s.latency, 0.95),
    latencyP99Ms: latencyQuantile(s.latency, 0.99),
    latencyMaxMs: s.latency.count > 0 ? s.latency.maxMs : null,
    approximateWindows: s.approximateWindows,
    powerMw: metricOf('energy_avg', s, spanMs).value,
    temperatureMaxC: s.temperatureMax,
    temperatureMeanC: s.temperatureSamples > 0 ? s.temperatureSum / s.temperatureSamples : null,
    memoryMax: s.memoryMax,
    memoryUsedMaxBytes: s.memoryUsedMax,
    agreement: metricOf('agreement', s, spanMs).value,
    accuracy: metricOf('accuracy', s, spanMs).value,
    gaps: s.gaps,
  }
}

async function cohortSummaries(d: TelemetryRouteDeps, spanMs: number) {
  const now = Date.now()
  const out = []
  for (const cohort of (await d.windows.cohorts()).sort()) {
    const s = await d.windows.window(cohort, d.windows.bucketOf(now), spanMs)
    if (s.windows === 0) continue
    out.push({ cohort, ...figuresOf(s, spanMs) })
  }
  return out
}

/** A target's cohorts: how many of its devices run each now, and their own figures over the span. */
async function targetSummaries(d: TelemetryRouteDeps, target: string, spanMs: number) {
  const devices = await d.devicesOf(target)
  const rows = await targetCohorts(d.windows, devices, spanMs, Date.now())
  return rows.map((r) => ({ cohort: r.cohort, running: r.devices, ...figuresOf(r.stats, spanMs) }))
}

/** At most this many points per cohort in a series; longer spans merge buckets into each point. */
const MAX_POINTS = 360

/** Each cohort's figures per time step over [from, to): the console's charts. */
async function cohortSeries(d: TelemetryRouteDeps, q: { from: number; to: number; cohorts?: string[] | undefined }) {
  const { bucketMs } = d.windows
  // Only retained buckets exist: a span reaching further back starts at the oldest one; the
  // bucket still filling is left out (complete buckets only, as /v1/telemetry).
  const now = Date.now()
  const first = d.windows.bucketOf(Math.max(q.from, now - d.windows.retentionMs))
  const last = Math.max(first, d.windows.bucketOf(Math.min(q.to, d.windows.bucketOf(now)) - 1))
  const stepMs = Math.max(1, Math.ceil((last - first + bucketMs) / bucketMs / MAX_POINTS)) * bucketMs
  const cohorts = q.cohorts ?? (await d.windows.cohorts()).sort()
  const series = []
  for (const cohort of cohorts) {
    const buckets = await d.windows.series(cohort, first, last)
    const points = []
    for (let at = first; at <= last; at += stepMs) {
      const s = mergeStats(buckets.filter((b) => b.bucket >= at && b.bucket < at + stepMs).map((b) => b.stats))
      if (s.windows > 0) points.push({ at, ...figuresOf(s, stepMs) })
    }
    series.push({ cohort, points })
  }
  return { bucketMs, stepMs, from: first, to: last + bucketMs, series }
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
      summary:
        "Telemetry per cohort (model version) over a recent span, and ingest counters; with a target, only its devices' (counts, errors, mean latency, energy) and how many of them run each version now",
      scope: 'read',
      query: z.strictObject({
        spanMs: z.coerce.number().int().min(1).max(86_400_000).default(60_000),
        target: z.string().max(2048).optional(),
      }),
      handler: async ({ query }) => ({
        spanMs: query.spanMs,
        bucketMs: d.windows.bucketMs,
        ...(query.target === undefined ? {} : { target: query.target }),
        cohorts: query.target === undefined ? await cohortSummaries(d, query.spanMs) : await targetSummaries(d, query.target, query.spanMs),
        ingest: d.counters(),
      }),
    }),
    route({
      method: 'GET',
      url: '/v1/telemetry/series',
      summary: 'Telemetry per cohort (model version) per time step between two instants (at most 360 points each)',
      scope: 'read',
      query: z
        .strictObject({
          from: z.coerce.number().int().min(0),
          to: z.coerce.number().int().min(0),
          cohorts: z
            .string()
            .max(2048)
            .transform((s) => s.split(',').filter((c) => c !== ''))
            .optional(),
        })
        .refine((q) => q.to > q.from, "'to' must be after 'from'"),
      response: SeriesSchema,
      handler: ({ query }) => cohortSeries(d, query),
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
  ]
}
