import { table } from '../output.js'

/* Human text for runbook reports. The reports are JSON from the API; fields are read defensively. */

type Row = Record<string, unknown>
const rows = (r: Row, key: string): Row[] => (Array.isArray(r[key]) ? (r[key] as Row[]) : [])
const num = (v: unknown, digits = 3): string => (typeof v === 'number' ? String(Math.round(v * 10 ** digits) / 10 ** digits) : '-')
const pct = (v: unknown): string => (typeof v === 'number' ? `${Math.round(v * 1000) / 10}%` : '-')

function quant(q: unknown): string[] {
  const x = (q ?? {}) as Row
  return q === null || q === undefined ? ['-', '-', '-', '-', '-'] : [num(x.p50), num(x.p95), num(x.p99), num(x.max), num(x.mean)]
}

/** The verdict block every verb ends with. */
export function verdictText(r: Row): string {
  const reasons = rows(r, 'reasons')
  const unreachable = rows(r, 'unreachable')
  const head = `${String(r.verb)} ${String(r.target)}: ${String(r.answered)}/${String(r.devices)} devices answered${r.partial === true ? ' — PARTIAL: figures cover only the devices that answered' : ''}`
  const lines = [head]
  if (unreachable.length > 0) lines.push(`unreachable: ${unreachable.map((u) => `${String(u.deviceId)} (${String(u.reason)})`).join(', ')}`)
  for (const reason of reasons) lines.push(`  - ${typeof reason.text === 'string' ? reason.text : String(reason.code)}`)
  lines.push(`verdict: ${String(r.verdict).toUpperCase()}`)
  return `${lines.join('\n')}\n`
}

function body(r: Row, detailed: boolean): string {
  switch (r.verb) {
    case 'verify':
      return table(
        ['DEVICE', 'HW', 'MODEL', 'RESULT', 'CHECKS'],
        rows(r, 'results').map((x) => [
          x.deviceId,
          x.hardware,
          x.modelVersion,
          x.passed === true ? 'pass' : 'FAIL',
          rows(x, 'checks')
            .map((c) => `${String(c.name)}:${c.passed === true ? 'ok' : 'FAIL'}`)
            .join(' '),
        ]),
      )
    case 'profile': {
      const head = ['', 'P50', 'P95', 'P99', 'MAX', 'MEAN']
      const fleet = table(
        [`FLEET (${String(r.unit)})`, ...head.slice(1)],
        [
          ['all', ...quant(r.fleet)],
          ...rows(r, 'byHardware').map((g) => [`${String(g.hardware)} ×${String(g.devices)}`, ...quant(g.quantiles)]),
        ],
      )
      const outl = rows(r, 'outliers')
      const out =
        outl.length === 0
          ? 'outliers: none\n'
          : `outliers: ${outl.map((o) => `${String(o.deviceId)} ${num(o.value)} (median ${num(o.median)})`).join(', ')}\n`
      const per = detailed
        ? table(
            ['DEVICE', 'HW', 'MODEL', 'P50', 'P95', 'P99', 'MAX', 'MEAN', 'BUDGET'],
            rows(r, 'results').map((x) => [x.deviceId, x.hardware, x.model, ...quant(x.quantiles), x.budget]),
          )
        : ''
      return `${fleet}${out}${per}`
    }
    case 'evaluate': {
      const o = (r.overall ?? {}) as Row
      return `${table(
        ['DEVICE', 'HW', 'MODEL', 'SAMPLES', 'ACCURACY', 'MIN', 'RESULT'],
        rows(r, 'results').map((x) => [
          x.deviceId,
          x.hardware,
          x.modelVersion,
          x.samples,
          pct(x.accuracy),
          pct(x.minAccuracy),
          x.passed === true ? 'pass' : 'FAIL',
        ]),
      )}overall accuracy ${pct(o.accuracy)} over ${String(o.samples)} samples (minimum ${pct(r.minAccuracy)})\n`
    }
    case 'health': {
      const v = (r.versions ?? {}) as { models?: Row; agents?: Row }
      const mix = (m: Row | undefined): string =>
        Object.entries(m ?? {})
          .map(([k, n]) => `${k} ×${String(n)}`)
          .join(', ')
      return `${table(
        ['DEVICE', 'HW', 'STATE', 'SEEN', 'MODEL', 'ERRORS', 'TEMP', 'MEMORY', 'PROBLEMS'],
        rows(r, 'results').map((x) => [
          x.deviceId,
          x.hardware,
          x.state,
          typeof x.lastSeenAgeMs === 'number' ? `${Math.round(x.lastSeenAgeMs / 1000)}s ago` : '-',
          x.model,
          pct(x.errorRate),
          x.temperatureC,
          pct(x.memoryShare),
          rows(x, 'problems')
            .map((p) => String(p.text))
            .join('; ') || '-',
        ]),
      )}online ${String(r.online)} · offline ${String(r.offline)} · stale ${String(r.stale)}\nmodels: ${mix(v.models)}\nagents: ${mix(v.agents)}\n`
    }
    case 'benchmark':
    case 'compare': {
      const b = (r.verb === 'benchmark' ? r.baseline : r.current) as Row
      const groups = table(
        ['MODEL', 'HW', 'DEVICES', 'LAT P50', 'LAT P95', 'LAT P99', 'POWER MEAN', 'ERRORS'],
        rows(b, 'groups').map((g) => [
          g.model,
          g.hardware,
          g.devices,
          ...quant(g.latencyMs).slice(0, 3),
          num(((g.energyMw ?? {}) as Row).mean),
          pct(g.errorRate),
        ]),
      )
      if (r.verb === 'benchmark') return groups
      return `${groups}${table(
        ['HW', 'METRIC', 'BASELINE', 'NOW', 'CHANGE', 'VERDICT'],
        rows(r, 'metrics').map((m) => [
          m.hardware,
          m.metric,
          num(m.baseline),
          num(m.current),
          m.metric === 'errorRate' ? num(m.change) : pct(m.change),
          m.verdict,
        ]),
      )}`
    }
    case 'analyze':
      return `${table(
        ['RANK', 'HW', 'DEVICES', 'REGRESSED', 'MEAN EXCESS', 'SHARE'],
        rows(r, 'hardware').map((h, i) => [i + 1, h.hardware, h.devices, h.regressed, pct(h.meanExcess), pct(h.share)]),
      )}${table(
        ['DEVICE', 'HW', 'P95', 'REFERENCE', 'FROM', 'EXCESS'],
        rows(r, 'suspects').map((s) => [s.deviceId, s.hardware, num(s.p95), num(s.reference), s.referenceFrom, pct(s.excess)]),
      )}`
    case 'status': {
      const fmt = (x: Row): string => JSON.stringify(x.storage ?? x.memory ?? x.slots ?? null)
      return table(
        ['DEVICE', 'HW', 'FREE', String(r.metric).toUpperCase()],
        rows(r, 'results').map((x) => [x.deviceId, x.hardware, pct(x.freeShare), fmt(x)]),
      )
    }
    case 'test':
      return table(
        ['DEVICE', 'HW', 'MODEL', 'MAX ERROR', 'RESULT', 'DETAIL'],
        rows(r, 'results').map((x) => [
          x.deviceId,
          x.hardware,
          x.model,
          num(x.maxAbsError, 6),
          x.passed === true ? 'pass' : 'FAIL',
          x.detail,
        ]),
      )
    default:
      return ''
  }
}

/** A report as people read it: the verb's table(s), then the verdict. */
export function renderReport(r: Row, detailed = false): string {
  return `${body(r, detailed)}${verdictText(r)}`
}
