import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { explain } from '../api/client.js'
import { FleetPageSchema, FleetSummarySchema, type DeviceView, type FleetSummary } from '../api/schemas.js'
import { age, labelText } from '../format.js'
import { formatRoute, navigate, type Route } from '../router.js'
import { useConsole } from '../state/console.js'
import { useBus } from '../state/store.js'
import { useNow, useThrottled } from './hooks.js'
import { VirtualTable, type Column } from './virtual-table.js'

type FleetRoute = Extract<Route, { page: 'fleet' }>
const PAGE = 100

function OnlineCell({ online }: { online: boolean | null }) {
  const text = online === null ? 'unknown' : online ? 'online' : 'offline'
  return <span class={`dot ${text}`}>{text}</span>
}

function columns(now: number): Column<DeviceView>[] {
  return [
    {
      key: 'id',
      label: 'Device',
      width: 'minmax(9rem, 1.2fr)',
      render: (d) => <a href={formatRoute({ page: 'device', id: d.id })}>{d.id}</a>,
    },
    {
      key: 'labels',
      label: 'Labels',
      width: 'minmax(10rem, 1.6fr)',
      render: (d) => <span title={labelText(d.labels)}>{labelText(d.labels)}</span>,
    },
    {
      key: 'groups',
      label: 'Groups',
      width: 'minmax(6rem, 0.8fr)',
      render: (d) =>
        d.groups.length === 0
          ? '—'
          : d.groups.map((g) => (
              <a href={formatRoute({ page: 'fleet', target: g, q: '', phase: '', model: '', online: '' })} class="group" key={g}>
                {g}
              </a>
            )),
    },
    { key: 'hw', label: 'Hardware', width: '7rem', render: (d) => d.hardware ?? '—' },
    { key: 'online', label: 'Online', width: '6rem', render: (d) => <OnlineCell online={d.online} /> },
    {
      key: 'phase',
      label: 'Phase',
      width: '6.5rem',
      render: (d) => <span class={`phase ${d.phase ?? 'unknown'}`}>{d.phase ?? 'unknown'}</span>,
    },
    { key: 'active', label: 'Active model', width: 'minmax(8rem, 1fr)', render: (d) => d.active ?? '—' },
    { key: 'standby', label: 'Standby', width: 'minmax(8rem, 1fr)', render: (d) => d.standby ?? '—' },
    { key: 'tel', label: 'Last telemetry', width: '8.5rem', render: (d) => age(d.lastTelemetryAt, now) },
    {
      key: 'rollout',
      label: 'Rollout',
      width: '11rem',
      render: (d) => (d.rollout === null ? '—' : <a href={formatRoute({ page: 'rollout', id: d.rollout })}>{d.rollout}</a>),
    },
  ]
}

function query(r: FleetRoute, extra: Record<string, string>): string {
  const p = new URLSearchParams(extra)
  if (r.target.trim() !== '') p.set('target', r.target.trim())
  if (r.q.trim() !== '') p.set('q', r.q.trim())
  return p.toString()
}

/** Counts of one dimension; with `onPick`, each count is a toggle that filters the table by it. */
function Facet(p: { title: string; counts: Record<string, number> | undefined; active?: string; onPick?: (v: string) => void }) {
  const entries = Object.entries(p.counts ?? {}).sort((a, b) => b[1] - a[1])
  const { onPick } = p
  return (
    <div class="facet" role="group" aria-label={`${p.title} counts`}>
      <h3>{p.title}</h3>
      {entries.length === 0 ? <span class="muted">—</span> : null}
      {entries.map(([k, n]) =>
        onPick === undefined ? (
          <span class="chip static" key={k}>
            {k} <strong>{n}</strong>
          </span>
        ) : (
          <button
            type="button"
            class="chip"
            aria-pressed={p.active === k}
            onClick={() => {
              onPick(p.active === k ? '' : k)
            }}
            key={k}
          >
            {k} <strong>{n}</strong>
          </button>
        ),
      )}
    </div>
  )
}

/** The fleet: counts by phase, model, hardware and online state, and every device in a virtualised, server-paged table. */
export function FleetView({ route }: { route: FleetRoute }) {
  const c = useConsole()
  const now = useNow()
  const [summary, setSummary] = useState<FleetSummary | null>(null)
  const [total, setTotal] = useState(0)
  const [error, setError] = useState<string | null>(null)
  const [, setLoaded] = useState(0)
  const pages = useRef(new Map<number, DeviceView[]>())
  const inFlight = useRef(new Set<number>())
  const view = useRef({ first: 0, last: 0 })
  const gen = useRef(0)
  const filterKey = JSON.stringify([route.target, route.q, route.phase, route.model, route.online])

  const loadPage = useCallback(
    (i: number, force = false) => {
      if (inFlight.current.has(i) || (!force && pages.current.has(i))) return
      const g = gen.current
      inFlight.current.add(i)
      const live = Object.fromEntries(
        Object.entries({ phase: route.phase, model: route.model, online: route.online }).filter(([, v]) => v !== ''),
      )
      c.api
        .get(`/v1/fleet/devices?${query(route, { ...live, offset: String(i * PAGE), limit: String(PAGE) })}`, FleetPageSchema)
        .then((page) => {
          if (g !== gen.current) return
          pages.current.set(i, page.devices)
          setTotal(page.total)
          setError(null)
          setLoaded((n) => n + 1)
        })
        .catch((err: unknown) => {
          if (g === gen.current) setError(explain(err))
        })
        .finally(() => inFlight.current.delete(i))
    },
    [c, filterKey],
  )
  const loadSummary = useCallback(() => {
    const g = gen.current
    c.api
      .get(`/v1/fleet/summary?${query(route, {})}`, FleetSummarySchema)
      .then((s) => {
        if (g === gen.current) setSummary(s)
      })
      .catch((err: unknown) => {
        if (g === gen.current) setError(explain(err))
      })
  }, [c, filterKey])
  const onRange = useCallback(
    (first: number, last: number) => {
      view.current = { first, last }
      for (let i = Math.floor(first / PAGE); i <= Math.floor(Math.max(first, last - 1) / PAGE); i++) loadPage(i)
    },
    [loadPage],
  )
  useEffect(() => {
    gen.current++
    pages.current.clear()
    inFlight.current.clear()
    setTotal(0)
    loadSummary()
    loadPage(0)
  }, [loadPage, loadSummary])
  // Live: devices changed, or the stream is back after a break: re-read the rows on screen (at
  // most every 2 s) and the counts (every 5 s: they read every matching device's state).
  const refreshRows = useThrottled(() => {
    const { first, last } = view.current
    for (let i = Math.floor(first / PAGE); i <= Math.floor(Math.max(first, last - 1) / PAGE); i++) loadPage(i, true)
  }, 2000)
  const refreshCounts = useThrottled(loadSummary, 5000)
  const refresh = (): void => {
    refreshRows()
    refreshCounts()
  }
  useBus(c.bus, 'fleet', refresh)
  useBus(c.bus, 'reconnected', refresh)

  const set = (patch: Partial<FleetRoute>): void => {
    navigate({ ...route, ...patch }, true)
  }
  const onSubmit = (e: Event): void => {
    e.preventDefault()
    const f = new FormData(e.currentTarget as HTMLFormElement)
    const text = (k: string): string => {
      const v = f.get(k)
      return typeof v === 'string' ? v : ''
    }
    set({ target: text('target'), q: text('q') })
  }
  const row = (i: number): DeviceView | undefined => pages.current.get(Math.floor(i / PAGE))?.[i % PAGE]
  return (
    <section aria-labelledby="fleet-title">
      <h2 id="fleet-title">Fleet</h2>
      <form class="filters" onSubmit={onSubmit} key={filterKey}>
        <label>
          Target{' '}
          <span class="hint">
            (the CLI's grammar: <code>env=production,hw in (stm32h743)</code>, <code>!canary</code>)
          </span>
          <input name="target" defaultValue={route.target} spellcheck={false} autoComplete="off" placeholder="every device" />
        </label>
        <label>
          Device id contains
          <input name="q" defaultValue={route.q} spellcheck={false} autoComplete="off" />
        </label>
        <button type="submit">Filter</button>
        {filterKey !== JSON.stringify(['', '', '', '', '']) ? (
          <button
            type="button"
            class="secondary"
            onClick={() => {
              set({ target: '', q: '', phase: '', model: '', online: '' })
            }}
          >
            Clear
          </button>
        ) : null}
      </form>
      {error === null ? null : (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <div class="facets">
        <p class="total" aria-live="polite">
          <strong>{summary?.total ?? '…'}</strong> devices match
          {route.phase !== '' || route.model !== '' || route.online !== '' ? `, ${total} with the picked counts` : ''}
        </p>
        <Facet
          title="Online"
          counts={summary?.summary.online}
          active={route.online}
          onPick={(online) => {
            set({ online })
          }}
        />
        <Facet
          title="Phase"
          counts={summary?.summary.phase}
          active={route.phase}
          onPick={(phase) => {
            set({ phase })
          }}
        />
        <Facet
          title="Active model"
          counts={summary?.summary.model}
          active={route.model}
          onPick={(model) => {
            set({ model })
          }}
        />
        <Facet title="Hardware" counts={summary?.summary.hardware} />
        <Facet
          title="Group"
          counts={summary?.summary.group}
          active={route.target}
          onPick={(target) => {
            set({ target })
          }}
        />
      </div>
      <VirtualTable label="Devices" total={total} columns={columns(now)} row={row} onRange={onRange} resetKey={filterKey} />
    </section>
  )
}
