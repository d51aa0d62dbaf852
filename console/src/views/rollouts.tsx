import { useCallback, useEffect, useState } from 'preact/hooks'
import { explain } from '../api/client.js'
import { RolloutListSchema, type Rollout } from '../api/schemas.js'
import { age, stepLabel } from '../format.js'
import { formatRoute } from '../router.js'
import { useConsole } from '../state/console.js'
import { useBus } from '../state/store.js'
import { useNow, useThrottled } from './hooks.js'

/** A rollout's state as a badge. */
export function StateBadge({ state }: { state: string }) {
  return <span class={`badge state-${state}`}>{state}</span>
}

/** Step `n` of `m` with its share. */
export function stepText(r: Rollout): string {
  const s = r.steps[r.step]
  return `${Math.min(r.step + 1, r.steps.length)}/${r.steps.length}${s === undefined ? '' : ` (${stepLabel(s)})`}`
}

/** Recent rollouts, newest first, their state and progress updated live. */
export function RolloutsView() {
  const c = useConsole()
  const now = useNow()
  const [rollouts, setRollouts] = useState<Rollout[] | null>(null)
  const [error, setError] = useState<string | null>(null)
  const load = useCallback(() => {
    c.api
      .get('/v1/rollouts?limit=200', RolloutListSchema)
      .then((r) => {
        setRollouts(r.rollouts)
        setError(null)
      })
      .catch((err: unknown) => {
        setError(explain(err))
      })
  }, [c])
  useEffect(load, [load])
  const reload = useThrottled(load, 1000)
  useBus(c.bus, 'reconnected', reload)
  useBus(c.bus, 'rollout', (r: Rollout) => {
    setRollouts((list) => {
      if (list === null || !list.some((x) => x.id === r.id)) {
        reload()
        return list
      }
      return list.map((x) => (x.id === r.id && x.revision <= r.revision ? r : x))
    })
  })
  return (
    <section aria-labelledby="rollouts-title">
      <h2 id="rollouts-title">Rollouts</h2>
      {error === null ? null : (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      {rollouts === null ? <p>Loading…</p> : null}
      {rollouts?.length === 0 ? (
        <p>
          No rollouts yet. Start one with <code>liquid-lln deploy</code>.
        </p>
      ) : null}
      {rollouts !== null && rollouts.length > 0 ? (
        <table class="grid">
          <caption class="sr-only">Rollouts, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Rollout</th>
              <th scope="col">Model</th>
              <th scope="col">Target</th>
              <th scope="col">Strategy</th>
              <th scope="col">State</th>
              <th scope="col">Step</th>
              <th scope="col">Succeeded</th>
              <th scope="col">Failed</th>
              <th scope="col">Started</th>
            </tr>
          </thead>
          <tbody>
            {rollouts.map((r) => (
              <tr key={r.id} data-rollout={r.id}>
                <td>
                  <a href={formatRoute({ page: 'rollout', id: r.id })}>{r.name ?? r.id}</a>
                  {r.kind === 'rollback' ? <span class="tag">rollback</span> : null}
                </td>
                <td>
                  {r.model.name}@{r.model.version}
                </td>
                <td>
                  <code>{r.target ?? `${r.counts.targeted} devices`}</code>
                </td>
                <td>{r.strategy}</td>
                <td>
                  <StateBadge state={r.state} />
                </td>
                <td>{stepText(r)}</td>
                <td>
                  {r.counts.succeeded}/{r.counts.cohort}
                </td>
                <td>{r.counts.failed + r.counts.silent}</td>
                <td>{age(r.createdAt, now)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  )
}
