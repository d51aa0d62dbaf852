import { useCallback, useEffect, useState } from 'preact/hooks'
import { explain } from '../api/client.js'
import {
  EventsSchema,
  RolloutDetailSchema,
  RulesSchema,
  type AuditEntry,
  type Progress,
  type RolloutDetail,
  type RuleStates,
} from '../api/schemas.js'
import { age, clock, duration } from '../format.js'
import { formatRoute } from '../router.js'
import { useConsole } from '../state/console.js'
import { useBus, useStore } from '../state/store.js'
import { RolloutActions } from './actions.js'
import { AuditItem } from './evidence.js'
import { useNow, useThrottled } from './hooks.js'
import { RolloutCharts } from './rollout-charts.js'
import { generations, stepRows } from './rollout-steps.js'
import { StateBadge, stepText } from './rollouts.js'
import { RulesTable } from './rules.js'
import { VirtualTable, type Column } from './virtual-table.js'

const DEVICE_COLUMNS: Column<Progress>[] = [
  { key: 'id', label: 'Device', width: 'minmax(9rem, 1fr)', render: (d) => <a href={formatRoute({ page: 'device', id: d.id })}>{d.id}</a> },
  { key: 'step', label: 'Step', width: '5rem', render: (d) => d.step + 1 },
  {
    key: 'outcome',
    label: 'Outcome',
    width: '8rem',
    render: (d) => <span class={`badge outcome-${d.outcome}`}>{d.reverted ? 'rolled back' : d.outcome}</span>,
  },
  { key: 'gen', label: 'Desired generation', width: '10rem', render: (d) => d.gen ?? '—' },
  { key: 'error', label: 'Error', width: 'minmax(10rem, 2fr)', render: (d) => d.error ?? '' },
]

/** Links hidden in a rollout's reason ("superseded by r-…", "rolled back by rb-…"). */
function Reason({ text }: { text: string }) {
  const parts = text.split(/\b((?:r|rb)-[0-9a-f-]{6,})\b/)
  return (
    <>
      {parts.map((p, i) =>
        i % 2 === 1 ? (
          <a href={formatRoute({ page: 'rollout', id: p })} key={i}>
            {p}
          </a>
        ) : (
          p
        ),
      )}
    </>
  )
}

function Steps({ rollout }: { rollout: RolloutDetail }) {
  return (
    <table class="grid steps">
      <caption class="sr-only">Devices per step</caption>
      <thead>
        <tr>
          <th scope="col">Step</th>
          <th scope="col">Share</th>
          <th scope="col">Status</th>
          <th scope="col">In progress</th>
          <th scope="col">Succeeded</th>
          <th scope="col">Failed</th>
          <th scope="col">Silent</th>
          <th scope="col">Skipped</th>
          <th scope="col">Rolled back</th>
        </tr>
      </thead>
      <tbody>
        {stepRows(rollout).map((s) => (
          <tr key={s.index} data-step={s.index} class={s.status}>
            <th scope="row">{s.index + 1}</th>
            <td>{s.label}</td>
            <td>{s.status}</td>
            <td>{s.inProgress}</td>
            <td>{s.succeeded}</td>
            <td>{s.failed}</td>
            <td>{s.silent}</td>
            <td>{s.skipped}</td>
            <td>{s.rolledBack}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

function Summary({ r, now }: { r: RolloutDetail; now: number }) {
  const gens = generations(r.devices_)
  return (
    <dl class="facts">
      <dt>Model</dt>
      <dd>
        {r.model.name}@{r.model.version}
      </dd>
      <dt>Target</dt>
      <dd>
        <code>{r.target ?? `${r.counts.targeted} named devices`}</code>
      </dd>
      <dt>Strategy</dt>
      <dd>
        {r.kind === 'rollback' ? 'rollback' : r.strategy}
        {r.bakeMs > 0 ? `, bake ${duration(r.bakeMs)} per step` : ''}
      </dd>
      <dt>Step</dt>
      <dd>
        {stepText(r)}
        {r.bakeUntil !== null && r.state === 'running' && r.bakeUntil > now ? `, baking ${duration(r.bakeUntil - now)} more` : ''}
      </dd>
      <dt>Devices</dt>
      <dd class="counts">
        {r.counts.succeeded} succeeded of {r.counts.cohort} in the cohort ({r.counts.targeted} targeted); {r.counts.pending} pending,{' '}
        {r.counts.failed} failed, {r.counts.silent} silent, {r.counts.skipped} skipped
      </dd>
      <dt>Desired generations written</dt>
      <dd>
        {gens === null
          ? 'none yet'
          : `${gens.devices} devices, generation ${gens.min === gens.max ? gens.min : `${gens.min} to ${gens.max}`}`}
      </dd>
      {r.rollbackOf === null ? null : (
        <>
          <dt>Rolls back</dt>
          <dd>
            <a href={formatRoute({ page: 'rollout', id: r.rollbackOf })}>{r.rollbackOf}</a>
          </dd>
        </>
      )}
      {r.reason === null ? null : (
        <>
          <dt>Reason</dt>
          <dd>
            <Reason text={r.reason} />
          </dd>
        </>
      )}
      <dt>Started</dt>
      <dd>
        {clock(r.createdAt)} ({age(r.createdAt, now)}), revision {r.revision}
      </dd>
    </dl>
  )
}

/** One rollout, live: progress per step, actions, rule states, charts, its decisions and devices. */
export function RolloutDetailView({ id }: { id: string }) {
  const c = useConsole()
  const now = useNow()
  const audit = useStore(c.audit)
  const [rollout, setRollout] = useState<RolloutDetail | null>(null)
  const [states, setStates] = useState<RuleStates | null>(null)
  const [history, setHistory] = useState<AuditEntry[]>([])
  const [error, setError] = useState<string | null>(null)
  const q = encodeURIComponent(id)
  const load = useCallback(() => {
    c.api
      .get(`/v1/rollouts/${q}`, RolloutDetailSchema)
      .then((r) => {
        setRollout(r)
        setError(null)
      })
      .catch((err: unknown) => {
        setError(explain(err))
      })
    c.api
      .get(`/v1/rollouts/${q}/rules`, RulesSchema)
      .then((r) => {
        setStates(r.states)
      })
      .catch(() => undefined)
    c.api
      .get(`/v1/events?rollout=${q}&limit=1000`, EventsSchema)
      .then((r) => {
        setHistory(r.events)
      })
      .catch(() => undefined)
  }, [c, q])
  useEffect(() => {
    setRollout(null)
    setStates(null)
    setHistory([])
    load()
  }, [load])
  const reload = useThrottled(load, 1000)
  useBus(c.bus, 'reconnected', reload)
  useBus(c.bus, 'rollout', (r: { id: string }) => {
    if (r.id === id) reload()
  })
  useBus(c.bus, 'rules', (e: { rolloutId: string; states: RuleStates }) => {
    if (e.rolloutId === id) setStates(e.states)
  })
  if (error !== null && rollout === null)
    return (
      <p role="alert" class="error">
        {error}
      </p>
    )
  if (rollout === null) return <p>Loading rollout {id}…</p>
  const seen = new Set(history.map((e) => e.id))
  const events = [...history, ...audit.filter((e) => e.rolloutId === id && !seen.has(e.id))].sort(
    (a, b) => a.at - b.at || (a.id < b.id ? -1 : 1),
  )
  return (
    <section aria-labelledby="rollout-title" data-state={rollout.state}>
      <h2 id="rollout-title">
        {rollout.kind === 'rollback' ? 'Rollback' : 'Rollout'} {rollout.name ?? rollout.id} <StateBadge state={rollout.state} />
      </h2>
      <Summary r={rollout} now={now} />
      <RolloutActions rollout={rollout} onDone={reload} />
      <h3>Devices per step</h3>
      <Steps rollout={rollout} />
      <h3>Rules</h3>
      <RulesTable states={states} />
      <h3>Telemetry by model version</h3>
      <RolloutCharts rollout={rollout} states={states} />
      <h3>Decisions, alerts and events</h3>
      {events.length === 0 ? <p class="muted">None yet.</p> : null}
      <ol class="audit-list" aria-label="Audit records of this rollout">
        {[...events].reverse().map((e) => (
          <AuditItem entry={e} showRollout={false} key={e.id} />
        ))}
      </ol>
      <h3>Devices</h3>
      <VirtualTable
        label="Devices of this rollout"
        total={rollout.devices_.length}
        columns={DEVICE_COLUMNS}
        row={(i) => rollout.devices_[i]}
        onRange={noop}
        height={360}
      />
    </section>
  )
}

function noop(): void {
  // every row is already loaded
}
