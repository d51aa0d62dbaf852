import type { RuleStates } from '../api/schemas.js'
import { clock, duration, figure } from '../format.js'

/** The last evaluation of a rollout's rules: value, limit, window, samples, outcome. */
export function RulesTable({ states }: { states: RuleStates | null }) {
  if (states === null) return <p class="muted">The rules have not been evaluated yet.</p>
  return (
    <>
      <p class="muted">
        Evaluated at {clock(states.at)} on cohort <strong>{states.candidate}</strong>
        {states.baseline === null ? '' : ` against ${states.baseline}`}
        {states.dryRun ? ' (dry run: rules report, never act)' : ''}.
      </p>
      <table class="grid rules">
        <caption class="sr-only">Rule states</caption>
        <thead>
          <tr>
            <th scope="col">Rule</th>
            <th scope="col">Value</th>
            <th scope="col">Limit</th>
            <th scope="col">Window</th>
            <th scope="col">Samples</th>
            <th scope="col">Outcome</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          {states.results.map((r) => (
            <tr key={r.rule} data-rule={r.rule} class={r.firing ? 'firing' : ''}>
              <th scope="row">
                <code>{r.rule}</code>
              </th>
              <td>{figure(r.observed, r.metric)}</td>
              <td>{figure(r.threshold, r.metric)}</td>
              <td>{duration(r.windowMs)}</td>
              <td>{r.sampleSize}</td>
              <td>
                <span class={`badge outcome-${r.outcome}`}>{r.firing ? `${r.outcome} (firing)` : r.outcome}</span>
              </td>
              <td>{r.action}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  )
}
