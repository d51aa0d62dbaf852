/**
 * Prometheus and Grafana as provisioned by docker-compose.yml: the scrape configuration reaches the
 * ports our services really serve /metrics on, and every dashboard query names metrics that the
 * broker, controller and agent really export (collected from their prom-client definitions, so
 * renaming a metric breaks this test).
 */
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..', '..')
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8')

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
}

/** Metric names defined in a package's sources: prom-client `name: 'lln_…'` and the helpers that take the name first. */
function exportedMetrics(dir: string): Map<string, 'histogram' | 'other'> {
  const out = new Map<string, 'histogram' | 'other'>()
  for (const file of sourceFiles(dir)) {
    const text = readFileSync(file, 'utf8')
    if (!text.includes('prom-client')) continue
    for (const m of text.matchAll(/(new Histogram\(\{\s*)?name: '(lln_[a-z0-9_]+)'/g))
      out.set(m[2] ?? '', m[1] === undefined ? 'other' : 'histogram')
    for (const m of text.matchAll(/\b[a-z]\w*\('(lln_[a-z0-9_]+)',/g)) out.set(m[1] ?? '', 'other')
  }
  return out
}

const metrics = new Map([...exportedMetrics('broker/src'), ...exportedMetrics('controller/src'), ...exportedMetrics('agent/src')])
/** What Prometheus stores: histograms as _bucket, _sum and _count series. */
const series = new Set(
  [...metrics].flatMap(([name, kind]) => (kind === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name])),
)

interface Compose {
  services: Record<
    string,
    { command?: string[]; environment?: Record<string, string>; volumes?: string[]; networks?: { default?: { aliases?: string[] } } }
  >
}
const compose = parse(read('docker-compose.yml'), { merge: true }) as Compose

/** The value after `flag` in a service's command. */
function flagValue(service: string, flag: string): string | undefined {
  const cmd = compose.services[service]?.command ?? []
  const i = cmd.indexOf(flag)
  return i < 0 ? undefined : cmd[i + 1]
}

interface ScrapeConfig {
  job_name: string
  metrics_path?: string
  static_configs?: { targets: string[] }[]
  dns_sd_configs?: { names: string[]; type: string; port: number }[]
}
const prometheus = parse(read('deploy/prometheus/prometheus.yml')) as {
  global: Record<string, string>
  scrape_configs: ScrapeConfig[]
}

describe('the metrics our services export', () => {
  it('were found in broker, controller and agent sources', () => {
    for (const name of [
      'lln_broker_clients_connected',
      'lln_devices',
      'lln_rollouts',
      'lln_cohort_latency_ms',
      'lln_agent_inferences_total',
    ])
      expect([...metrics.keys()]).toContain(name)
    expect(series).toContain('lln_agent_inference_latency_seconds_bucket')
  })
})

describe('deploy/prometheus/prometheus.yml', () => {
  it('has the structure Prometheus reads: durations, unique jobs, and targets for each', () => {
    for (const key of ['scrape_interval', 'scrape_timeout', 'evaluation_interval'])
      expect(prometheus.global[key], key).toMatch(/^\d+(ms|s|m|h)$/)
    const jobs = prometheus.scrape_configs.map((c) => c.job_name)
    expect(new Set(jobs).size).toBe(jobs.length)
    for (const c of prometheus.scrape_configs) {
      expect(
        Object.keys(c).every((k) => ['job_name', 'metrics_path', 'static_configs', 'dns_sd_configs'].includes(k)),
        c.job_name,
      ).toBe(true)
      expect((c.static_configs?.length ?? 0) + (c.dns_sd_configs?.length ?? 0), c.job_name).toBeGreaterThan(0)
      for (const d of c.dns_sd_configs ?? []) {
        expect(d.type).toBe('A')
        expect(Number.isInteger(d.port)).toBe(true)
      }
    }
  })

  it('scrapes broker, controller and agents on the ports compose gives their /metrics', () => {
    const port = (job: string): [string[], number] => {
      const d = prometheus.scrape_configs.find((c) => c.job_name === job)?.dns_sd_configs?.[0]
      return [d?.names ?? [], d?.port ?? 0]
    }
    expect(port('broker')).toEqual([['mqtt'], Number(flagValue('broker', '--http-port'))])
    // `mqtt` names every broker node; the controller name every controller.
    for (const [name, alias] of [
      ['broker', 'mqtt'],
      ['broker-2', 'mqtt'],
      ['controller-2', 'controller'],
    ] as const) {
      expect(compose.services[name]?.networks?.default?.aliases, name).toContain(alias)
      expect(flagValue(name, '--http-port') ?? compose.services[name]?.environment?.LLN_HTTP_PORT, name).toBe(
        name.startsWith('broker') ? flagValue('broker', '--http-port') : compose.services.controller?.environment?.LLN_HTTP_PORT,
      )
    }
    expect(port('controller')).toEqual([['controller'], Number(compose.services.controller?.environment?.LLN_HTTP_PORT)])
    expect(port('agent')).toEqual([['edge-agent'], Number(flagValue('edge-agent', '--http-port'))])
    // The agent's local API must listen beyond its container's loopback to be scraped.
    expect(compose.services['edge-agent']?.environment?.LLN_HTTP_HOST).toBe('0.0.0.0')
    expect(compose.services.controller?.environment?.LLN_HTTP_HOST).toBe('0.0.0.0')
    for (const job of ['broker', 'controller', 'agent'])
      expect(prometheus.scrape_configs.find((c) => c.job_name === job)?.metrics_path ?? '/metrics').toBe('/metrics')
  })

  it('is the file compose mounts into Prometheus', () => {
    expect(compose.services.prometheus?.volumes).toContain('./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro')
  })
})

interface Target {
  expr?: string
  datasource?: { uid?: string }
}
interface Panel {
  type: string
  title: string
  datasource?: { uid?: string }
  targets?: Target[]
  panels?: Panel[]
}
interface Dashboard {
  uid: string
  title: string
  panels: Panel[]
  templating: { list: { name: string; query: { query: string } | string; datasource?: { uid?: string } }[] }
}

const dashboardDir = 'deploy/grafana/dashboards'
const dashboards = readdirSync(join(ROOT, dashboardDir))
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: f, text: read(join(dashboardDir, f)) }))

const datasources = parse(read('deploy/grafana/provisioning/datasources/prometheus.yml')) as {
  apiVersion: number
  datasources: { uid: string; type: string; url: string }[]
}

/** PromQL words that are functions, keywords or label names, not metric names. */
function metricNames(expr: string): string[] {
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\{[^}]*\}/g, '{}')
  return [...noStrings.matchAll(/\blln_[a-z0-9_]+\b/g)].map((m) => m[0])
}

describe('deploy/grafana', () => {
  it('provisions the Prometheus datasource compose runs, and loads the dashboards from the folder compose mounts', () => {
    expect(datasources.apiVersion).toBe(1)
    expect(datasources.datasources).toEqual([expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090' })])
    const providers = parse(read('deploy/grafana/provisioning/dashboards/liquid-edge.yml')) as {
      providers: { options: { path: string } }[]
    }
    const mounts = compose.services.grafana?.volumes ?? []
    for (const p of providers.providers) expect(mounts).toContain(`./${dashboardDir}:${p.options.path}:ro`)
    expect(mounts).toContain('./deploy/grafana/provisioning:/etc/grafana/provisioning:ro')
  })

  it('has at least one dashboard, each valid JSON with a unique uid', () => {
    expect(dashboards.length).toBeGreaterThan(0)
    const uids = dashboards.map(({ text }) => (JSON.parse(text) as Dashboard).uid)
    expect(new Set(uids).size).toBe(uids.length)
  })

  for (const { file, text } of dashboards) {
    const dash = JSON.parse(text) as Dashboard
    const panels = dash.panels.flatMap((p) => [p, ...(p.panels ?? [])])
    const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr ?? '' })))
    const variables = dash.templating.list.map((v) => ({
      panel: `$${v.name}`,
      expr: typeof v.query === 'string' ? v.query : v.query.query,
    }))

    it(`${file}: every query names only metrics the services export`, () => {
      expect(queries.length).toBeGreaterThan(10)
      for (const { panel, expr } of [...queries, ...variables]) {
        const names = metricNames(expr)
        expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0)
        for (const n of names) expect([...series], `${panel}: ${n}`).toContain(n)
      }
    })

    it(`${file}: uses the provisioned datasource everywhere`, () => {
      const uid = datasources.datasources[0]?.uid
      for (const p of panels.filter((x) => x.type !== 'row')) {
        expect(p.datasource?.uid, p.title).toBe(uid)
        for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe(uid)
      }
      for (const v of dash.templating.list) expect(v.datasource?.uid, v.name).toBe(uid)
    })

    it(`${file}: covers fleet health, rollout progress and latency, energy and temperature per model version`, () => {
      const all = queries.map((q) => q.expr).join('\n')
      for (const needed of [
        'lln_devices',
        'lln_broker_clients_connected',
        'lln_rollouts',
        'lln_rule_outcome',
        'lln_cohort_latency_ms',
        'lln_cohort_power_mw',
        'lln_cohort_temperature_max_c',
      ])
        expect(all, needed).toContain(needed)
      expect(all).toMatch(/by \([^)]*version[^)]*\) \(lln_cohort_latency_ms/)
    })
  }

  it('the metric check can fail: a renamed metric is not exported', () => {
    expect([...series]).not.toContain('lln_cohort_latency_msec')
    expect(metricNames('sum(rate(lln_agent_inferences_total{result="lln_fake"}[1m]))')).toEqual(['lln_agent_inferences_total'])
  })
})
