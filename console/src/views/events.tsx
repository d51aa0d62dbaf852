import { useStore } from '../state/store.js'
import { formatRoute, type Route } from '../router.js'
import { useConsole } from '../state/console.js'
import { AuditItem } from './evidence.js'

const SHOWN = 300

/** Decisions and alerts (or every audit record) as they happen, newest first, each with its evidence. */
export function EventsView({ route }: { route: Extract<Route, { page: 'events' }> }) {
  const c = useConsole()
  const audit = useStore(c.audit)
  const list = route.filter === 'all' ? audit : audit.filter((e) => e.event === 'decision' || e.event === 'alert')
  const shown = list.slice(-SHOWN).reverse()
  return (
    <section aria-labelledby="events-title">
      <h2 id="events-title">Decisions and alerts</h2>
      <nav class="tabs" aria-label="Which records">
        <a href={formatRoute({ page: 'events', filter: 'decisions' })} aria-current={route.filter === 'decisions' ? 'page' : undefined}>
          Decisions and alerts
        </a>
        <a href={formatRoute({ page: 'events', filter: 'all' })} aria-current={route.filter === 'all' ? 'page' : undefined}>
          Every audit record
        </a>
      </nav>
      <p class="muted" aria-live="polite">
        {list.length} records{list.length > SHOWN ? `, the latest ${SHOWN} shown` : ''}; new ones appear at the top as they happen.
      </p>
      {shown.length === 0 ? <p>Nothing yet: the rules have not alerted or decided anything.</p> : null}
      <ol class="audit-list" aria-label="Audit records, newest first">
        {shown.map((e) => (
          <AuditItem entry={e} key={e.id} />
        ))}
      </ol>
    </section>
  )
}
