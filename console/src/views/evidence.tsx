import type { AuditEntry } from '../api/schemas.js'
import { clock, duration, figure } from '../format.js'
import { formatRoute } from '../router.js'

const SHOWN_DEVICES = 12

/** The numbers behind a decision or alert: observed vs limit vs baseline, the window, the samples, the devices. */
export function Evidence({ entry }: { entry: AuditEntry }) {
  const e = entry.evidence
  if (e === undefined) return null
  const more = e.devices.length - SHOWN_DEVICES
  return (
    <dl class="evidence">
      <dt>Rule</dt>
      <dd>
        <code>{e.rule}</code> on <code>{e.metric}</code> ({e.comparison})
      </dd>
      <dt>Observed</dt>
      <dd class="observed">{figure(e.observed, e.metric)}</dd>
      <dt>Limit</dt>
      <dd>{figure(e.threshold, e.metric)}</dd>
      {e.baseline === null ? null : (
        <>
          <dt>Baseline cohort</dt>
          <dd>{figure(e.baseline, e.metric)}</dd>
        </>
      )}
      {entry.model === undefined ? null : (
        <>
          <dt>Cohort</dt>
          <dd>
            {entry.model.name}@{entry.model.version}
          </dd>
        </>
      )}
      {e.hardware === undefined ? null : (
        <>
          <dt>Hardware class</dt>
          <dd>{e.hardware}</dd>
        </>
      )}
      <dt>Window</dt>
      <dd>
        {duration(e.windowMs)} from {clock(e.windowStart)}
      </dd>
      <dt>Samples</dt>
      <dd>{e.sampleSize}</dd>
      {e.devices.length === 0 ? null : (
        <>
          <dt>Devices</dt>
          <dd class="devices">
            {e.devices.slice(0, SHOWN_DEVICES).map((id) => (
              <a href={formatRoute({ page: 'device', id })} key={id}>
                {id}
              </a>
            ))}
            {more > 0 ? <span> and {more} more</span> : null}
          </dd>
        </>
      )}
    </dl>
  )
}

/** One audit record: when, what, which rollout, and its evidence. */
export function AuditItem({ entry, showRollout = true }: { entry: AuditEntry; showRollout?: boolean }) {
  const kind = entry.event === 'decision' ? 'decision' : entry.event === 'alert' ? 'alert' : 'lifecycle'
  return (
    <li class={`audit ${kind} sev-${entry.severity}`} data-event={entry.event} data-id={entry.id}>
      <div class="audit-head">
        <time dateTime={new Date(entry.at).toISOString()}>{clock(entry.at)}</time>
        <span class={`badge ev-${kind}`}>{entry.event}</span>
        {entry.action === undefined || entry.action === 'none' ? null : <span class="badge action">{entry.action}</span>}
        {entry.dryRun === true ? <span class="badge">dry run</span> : null}
        {showRollout && entry.rolloutId !== null ? (
          <a href={formatRoute({ page: 'rollout', id: entry.rolloutId })}>{entry.rolloutId}</a>
        ) : null}
      </div>
      <p class="audit-message">{entry.message}</p>
      <Evidence entry={entry} />
    </li>
  )
}
