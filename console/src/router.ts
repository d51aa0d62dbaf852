import { useEffect, useState } from 'preact/hooks'

/** Where the console is: a page and its parameters, kept in the URL's hash (`#/rollouts/r-1`, `#/fleet?target=env%3Dstaging`). */
export type Route =
  | { page: 'fleet'; target: string; q: string; phase: string; model: string; online: string }
  | { page: 'rollouts' }
  | { page: 'rollout'; id: string }
  | { page: 'events'; filter: 'decisions' | 'all' }
  | { page: 'device'; id: string }

export function parseRoute(hash: string): Route {
  const [path = '', search = ''] = hash.replace(/^#/, '').split('?')
  const parts = path.split('/').filter((p) => p !== '')
  const params = new URLSearchParams(search)
  const [first, second] = parts
  if (first === 'rollouts' && second !== undefined) return { page: 'rollout', id: decodeURIComponent(second) }
  if (first === 'rollouts') return { page: 'rollouts' }
  if (first === 'events') return { page: 'events', filter: params.get('filter') === 'all' ? 'all' : 'decisions' }
  if (first === 'devices' && second !== undefined) return { page: 'device', id: decodeURIComponent(second) }
  return {
    page: 'fleet',
    target: params.get('target') ?? '',
    q: params.get('q') ?? '',
    phase: params.get('phase') ?? '',
    model: params.get('model') ?? '',
    online: params.get('online') ?? '',
  }
}

export function formatRoute(r: Route): string {
  switch (r.page) {
    case 'rollouts':
      return '#/rollouts'
    case 'rollout':
      return `#/rollouts/${encodeURIComponent(r.id)}`
    case 'events':
      return r.filter === 'all' ? '#/events?filter=all' : '#/events'
    case 'device':
      return `#/devices/${encodeURIComponent(r.id)}`
    case 'fleet': {
      const p = new URLSearchParams()
      for (const k of ['target', 'q', 'phase', 'model', 'online'] as const) if (r[k] !== '') p.set(k, r[k])
      const s = p.toString()
      return s === '' ? '#/fleet' : `#/fleet?${s}`
    }
  }
}

export function navigate(r: Route, replace = false): void {
  const hash = formatRoute(r)
  if (replace) history.replaceState(null, '', hash)
  else location.hash = hash
  if (replace) window.dispatchEvent(new HashChangeEvent('hashchange'))
}

/** The current route, following the hash. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash))
  useEffect(() => {
    const on = (): void => {
      setRoute(parseRoute(location.hash))
    }
    window.addEventListener('hashchange', on)
    return () => {
      window.removeEventListener('hashchange', on)
    }
  }, [])
  return route
}
