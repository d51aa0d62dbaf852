import { useConsole } from '../state/console.js'
import { useStore } from '../state/store.js'
import { useNow } from './hooks.js'

/** How fresh "reconnected" news stays on screen. */
const NEWS_MS = 15_000

/** The live connection's state, in words: live, reconnecting (why, when), back (what it replayed). */
export function ConnectionBanner() {
  const c = useConsole()
  const conn = useStore(c.connection)
  const now = useNow()
  const s = conn.stream
  if (s.state === 'reconnecting' || !conn.reachable) {
    const when = s.retryInMs === undefined ? 'now' : `in ${Math.ceil(s.retryInMs / 1000)} s`
    return (
      <div role="alert" class="banner down" data-connection="down">
        Lost the connection to the controller{s.reason === undefined ? '' : ` (${s.reason})`}. Reconnecting {when}; what happens meanwhile
        is shown when it is back.
      </div>
    )
  }
  const back = conn.reconnected
  if (back !== null && now - back.at < NEWS_MS)
    return (
      <div role="status" class="banner back" data-connection="back">
        Reconnected: {back.replayed} missed records replayed{back.gap ? ' (older ones were lost; the views were re-read)' : ''}.
      </div>
    )
  return null
}

/** A small live indicator for the header. */
export function LiveBadge() {
  const c = useConsole()
  const { stream } = useStore(c.connection)
  const text = stream.state === 'live' ? 'live' : stream.state === 'stopped' ? 'offline' : 'connecting…'
  return (
    <span class={`live ${stream.state}`} data-stream={stream.state}>
      ● {text}
    </span>
  )
}
