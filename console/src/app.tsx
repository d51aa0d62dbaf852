import { useEffect, useRef } from 'preact/hooks'
import { formatRoute, useRoute, type Route } from './router.js'
import { useConsole } from './state/console.js'
import { useStore } from './state/store.js'
import { ConnectionBanner, LiveBadge } from './views/banner.js'
import { DeviceDetailView } from './views/device.js'
import { EventsView } from './views/events.js'
import { FleetView } from './views/fleet.js'
import { Login } from './views/login.js'
import { RolloutDetailView } from './views/rollout-detail.js'
import { RolloutsView } from './views/rollouts.js'

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'fleet':
      return <FleetView route={route} />
    case 'rollouts':
      return <RolloutsView />
    case 'rollout':
      return <RolloutDetailView id={route.id} />
    case 'events':
      return <EventsView route={route} />
    case 'device':
      return <DeviceDetailView id={route.id} />
  }
}

const NAV: { label: string; route: Route; pages: Route['page'][] }[] = [
  { label: 'Fleet', route: { page: 'fleet', target: '', q: '', phase: '', model: '', online: '' }, pages: ['fleet', 'device'] },
  { label: 'Rollouts', route: { page: 'rollouts' }, pages: ['rollouts', 'rollout'] },
  { label: 'Decisions and alerts', route: { page: 'events', filter: 'decisions' }, pages: ['events'] },
]

/** The console: the login form until a token is accepted, then the pages, live. */
export function App() {
  const c = useConsole()
  const session = useStore(c.session)
  const route = useRoute()
  const main = useRef<HTMLElement>(null)
  useEffect(() => {
    // A new page: focus its content, so keyboard and screen-reader users start there.
    main.current?.focus({ preventScroll: true })
  }, [route.page])
  if (session.token !== null && session.who === null) return <p class="checking">Checking your session with the controller…</p>
  if (session.token === null || session.who === null) return <Login />
  const readOnly = !c.can('operate')
  return (
    <>
      <button type="button" class="skip" onClick={() => main.current?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <h1>Liquid Edge</h1>
        <nav aria-label="Pages">
          {NAV.map((n) => (
            <a href={formatRoute(n.route)} aria-current={n.pages.includes(route.page) ? 'page' : undefined} key={n.label}>
              {n.label}
            </a>
          ))}
        </nav>
        <LiveBadge />
        <span class="who" data-scopes={session.who.scopes.join(',')}>
          {session.who.name} ({readOnly ? 'read-only' : session.who.scopes.join(', ')})
        </span>
        <button
          type="button"
          class="secondary"
          onClick={() => {
            c.logout()
          }}
        >
          Log out
        </button>
      </header>
      <ConnectionBanner />
      <main id="main" ref={main} tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  )
}
