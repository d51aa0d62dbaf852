import { Counter, Gauge, type Registry } from 'prom-client'
import { latencyQuantile } from '@liquid-edge/protocol'
import type { RuleStates } from '../rules/rules-store.js'
import type { IngestCounters } from './ingest.js'
import { metricOf } from './window-stats.js'
import type { WindowStore } from './window-store.js'

export interface TelemetryMetricsOptions {
  registry: Registry
  windows: WindowStore
  counters: () => IngestCounters
  /** Rule states of the active rollouts (cohort roles and rule outcomes). */
  states: () => Promise<{ rolloutId: string; states: RuleStates }[]>
  /** Span the gauges summarize. @defaultValue 60000 */
  spanMs?: number
}

const OUTCOMES = ['healthy', 'breached', 'no-data'] as const

/**
 * Prometheus view of the telemetry windows: per model version and cohort (candidate, baseline or
 * fleet), computed from Redis at scrape time, so every replica serves the same numbers.
 */
export function registerTelemetryMetrics(o: TelemetryMetricsOptions): { decisions: Counter<'action'> } {
  const registers = [o.registry]
  const span = o.spanMs ?? 60_000
  const labelNames = ['model', 'version', 'cohort'] as const
  const g = (name: string, help: string, extra: string[] = []): Gauge =>
    new Gauge({ name, help, labelNames: [...labelNames, ...extra], registers: [] })
  const rate = g('lln_cohort_inference_rate', 'Inferences per second over the last minute')
  const errors = g('lln_cohort_error_rate', 'Errors per inference over the last minute')
  const latency = g('lln_cohort_latency_ms', 'Latency quantiles over the last minute (mergeable histogram)', ['quantile'])
  const energy = g('lln_cohort_power_mw', 'Average power (mW) over the last minute')
  const temp = g('lln_cohort_temperature_max_c', 'Highest temperature (°C) over the last minute')
  const online = g('lln_cohort_devices_reporting', 'Devices that sent telemetry in the last minute')
  new Gauge({
    name: 'lln_rule_outcome',
    help: 'Last outcome of each rule of each active rollout (1 = current outcome)',
    labelNames: ['rollout', 'rule', 'outcome'],
    registers,
    async collect() {
      this.reset()
      for (const { rolloutId, states } of await o.states()) {
        for (const r of states.results)
          for (const out of OUTCOMES) this.set({ rollout: rolloutId, rule: r.rule, outcome: out }, r.outcome === out ? 1 : 0)
      }
    },
  })
  const counter = (name: string, help: string, key: keyof IngestCounters): void => {
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(o.counters()[key])
      },
    })
  }
  counter('lln_telemetry_received', 'Telemetry messages received by this controller', 'received')
  counter('lln_telemetry_folded', 'Telemetry messages folded into Redis windows by this controller', 'folded')
  counter('lln_telemetry_sequence_gaps', 'Telemetry windows lost (sequence gaps) seen by this controller', 'gaps')
  counter('lln_telemetry_duplicates', 'Telemetry redeliveries dropped (JetStream de-duplication)', 'duplicates')
  counter('lln_telemetry_standby', 'Telemetry left to the replica holding the ingest duty (MQTT ingest)', 'standby')
  counter('lln_telemetry_failed_batches', 'Telemetry batches Redis refused', 'failedBatches')
  const decisions = new Counter({
    name: 'lln_rule_decisions_total',
    help: 'Alerts and decisions taken by this controller',
    labelNames: ['action'],
    registers,
  })
  // prom-client collects metrics concurrently: one shared Redis pass per scrape fills every cohort gauge.
  let pass: { at: number; done: Promise<void> } | null = null
  const fill = (): Promise<void> => {
    const now = Date.now()
    if (pass !== null && now - pass.at < 250) return pass.done
    pass = { at: now, done: collectCohorts(o, span, now, { windows: cohortWindows, rate, errors, latency, energy, temp, online }) }
    return pass.done
  }
  const cohortWindows = g('lln_cohort_windows', 'Telemetry windows received over the last minute')
  for (const x of [cohortWindows, rate, errors, latency, energy, temp, online]) {
    const set = x as Gauge & { collect?: () => Promise<void> }
    set.collect = fill
  }
  for (const x of [cohortWindows, rate, errors, latency, energy, temp, online]) o.registry.registerMetric(x)
  return { decisions }
}

type CohortGauges = Record<'windows' | 'rate' | 'errors' | 'latency' | 'energy' | 'temp' | 'online', Gauge>

async function collectCohorts(o: TelemetryMetricsOptions, span: number, now: number, g: CohortGauges): Promise<void> {
  const roles = new Map<string, string>()
  for (const { states } of await o.states()) {
    roles.set(states.candidate, 'candidate')
    if (states.baseline !== null && !roles.has(states.baseline)) roles.set(states.baseline, 'baseline')
  }
  const rows = []
  for (const cohort of await o.windows.cohorts()) rows.push({ cohort, s: await o.windows.window(cohort, o.windows.bucketOf(now), span) })
  for (const x of Object.values(g)) x.reset()
  for (const { cohort, s } of rows) {
    if (s.windows === 0) continue
    const at = cohort.lastIndexOf('@')
    const l = {
      model: at < 0 ? cohort : cohort.slice(0, at),
      version: at < 0 ? '' : cohort.slice(at + 1),
      cohort: roles.get(cohort) ?? 'fleet',
    }
    g.windows.set(l, s.windows)
    g.rate.set(l, metricOf('inference_rate', s, span).value ?? 0)
    const er = metricOf('error_rate', s, span).value
    if (er !== null) g.errors.set(l, er)
    for (const q of [0.5, 0.95, 0.99]) {
      const v = latencyQuantile(s.latency, q)
      if (v !== null) g.latency.set({ ...l, quantile: String(q) }, v)
    }
    const e = metricOf('energy_avg', s, span).value
    if (e !== null) g.energy.set(l, e)
    if (s.temperatureMax !== null) g.temp.set(l, s.temperatureMax)
    g.online.set(l, s.devices)
  }
}
