import { useCallback, useEffect, useState } from 'preact/hooks'
import { explain } from '../api/client.js'
import { SeriesSchema, type Point, type Rollout, type RuleStates, type Series } from '../api/schemas.js'
import { figure } from '../format.js'
import { useConsole } from '../state/console.js'
import { Chart, type ChartLine } from './chart.js'
import { useThrottled } from './hooks.js'

const TERMINAL = new Set(['completed', 'aborted', 'rolled-back'])
/** Charts start a little before the rollout, to show the fleet as it was. */
const LEAD_MS = 2 * 60_000

const CANDIDATE = ['#1f4e9c', '#4a78c2', '#7d9fd6', '#a9c0e6']
const BASELINE = '#6b6b6b'
const ROLLBACK = '#b3261e'
const ALERT = '#b35c00'

/** The points of each cohort aligned on one time axis. */
function align(series: Series['series']): { times: number[]; byCohort: Map<string, Map<number, Point>> } {
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => p.at)))].sort((a, b) => a - b)
  return { times, byCohort: new Map(series.map((s) => [s.cohort, new Map(s.points.map((p) => [p.at, p]))])) }
}

function thresholdLines(states: RuleStates | null, metrics: string[], n: number, scale = 1): ChartLine[] {
  return (states?.results ?? [])
    .filter((r) => metrics.includes(r.metric) && r.threshold !== null)
    .map((r) => ({
      label: `${r.rule} limit`,
      values: new Array<number | null>(n).fill((r.threshold ?? 0) * scale),
      color: r.action === 'alert' ? ALERT : ROLLBACK,
      dash: [6, 4],
      width: 1.5,
    }))
}

function latest(values: (number | null)[]): number | null {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null && values[i] !== undefined) return values[i] ?? null
  return null
}

interface Metric {
  title: string
  unit: string
  /** The figures charted for the candidate (the first is also charted for the baseline). */
  keys: { key: keyof Point; label: string }[]
  rules: string[]
  scale?: number
  format: string
}

const METRICS: Metric[] = [
  {
    title: 'Latency',
    unit: 'ms',
    keys: [
      { key: 'latencyAvgMs', label: 'mean' },
      { key: 'latencyP50Ms', label: 'p50' },
      { key: 'latencyP95Ms', label: 'p95' },
      { key: 'latencyP99Ms', label: 'p99' },
    ],
    rules: ['latency_avg', 'latency_p95'],
    format: 'latency',
  },
  {
    title: 'Error rate',
    unit: '%',
    keys: [{ key: 'errorRate', label: 'errors ÷ inferences' }],
    rules: ['error_rate'],
    scale: 100,
    format: 'error_rate',
  },
  { title: 'Power', unit: 'mW', keys: [{ key: 'powerMw', label: 'mean power' }], rules: ['energy_avg'], format: 'energy' },
  { title: 'Temperature', unit: '°C', keys: [{ key: 'temperatureMaxC', label: 'max' }], rules: ['temperature_max'], format: 'temperature' },
]

function lines(
  m: Metric,
  cohorts: { candidate: string; baseline: string | null },
  data: ReturnType<typeof align>,
  states: RuleStates | null,
): ChartLine[] {
  const scale = m.scale ?? 1
  const values = (cohort: string, key: keyof Point) =>
    data.times.map((t) => {
      const v = data.byCohort.get(cohort)?.get(t)?.[key]
      return typeof v === 'number' ? v * scale : null
    })
  const out: ChartLine[] = m.keys.map((k, i) => ({
    label: `${cohorts.candidate} ${k.label}`,
    values: values(cohorts.candidate, k.key),
    color: CANDIDATE[i] ?? '#1f4e9c',
    width: i === 0 ? 2.5 : 1.5,
  }))
  const first = m.keys[0]
  if (cohorts.baseline !== null && first !== undefined)
    out.push({ label: `${cohorts.baseline} ${first.label}`, values: values(cohorts.baseline, first.key), color: BASELINE, dash: [2, 3] })
  return [...out, ...thresholdLines(states, m.rules, data.times.length, scale)]
}

/** Cohort latency (mean and quantiles), error rate, power and temperature per model version over the rollout, rule limits drawn. */
export function RolloutCharts({ rollout, states }: { rollout: Rollout; states: RuleStates | null }) {
  const { api } = useConsole()
  const [series, setSeries] = useState<Series | null>(null)
  const [error, setError] = useState<string | null>(null)
  const candidate = `${rollout.model.name}@${rollout.model.version}`
  const baseline = states?.baseline ?? null
  const done = TERMINAL.has(rollout.state)
  const load = useCallback(() => {
    const to = done ? rollout.updatedAt + 60_000 : Date.now()
    const cohorts = [candidate, ...(baseline === null ? [] : [baseline])].map(encodeURIComponent).join(',')
    api
      .get(`/v1/telemetry/series?from=${rollout.createdAt - LEAD_MS}&to=${to}&cohorts=${cohorts}`, SeriesSchema)
      .then((s) => {
        setSeries(s)
        setError(null)
      })
      .catch((err: unknown) => {
        setError(explain(err))
      })
  }, [api, candidate, baseline, done, rollout.createdAt, rollout.updatedAt])
  useEffect(load, [candidate, baseline, done])
  // New rule evaluations mean new telemetry: refresh, at most every 3 s.
  const refresh = useThrottled(load, 3000)
  useEffect(() => {
    if (!done) refresh()
  }, [states?.at, refresh, done])
  if (error !== null)
    return (
      <p role="alert" class="error">
        Charts: {error}
      </p>
    )
  if (series === null) return <p class="muted">Loading charts…</p>
  const data = align(series.series)
  if (data.times.length === 0) return <p class="muted">No telemetry from {candidate} yet.</p>
  return (
    <div class="charts">
      {METRICS.map((m) => {
        const ls = lines(m, { candidate, baseline }, data, states)
        const summary = ls
          .filter((l) => !l.label.endsWith('limit'))
          .map((l) => `${l.label} ${figure(latest(l.values) === null ? null : (latest(l.values) ?? 0) / (m.scale ?? 1), m.format)}`)
          .join('; ')
        return (
          <Chart
            key={m.title}
            title={`${m.title} (${m.unit})`}
            unit={m.unit}
            times={data.times}
            lines={ls}
            summary={`latest: ${summary}`}
          />
        )
      })}
    </div>
  )
}
