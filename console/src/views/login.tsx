import { useRef, useState } from 'preact/hooks'
import { ApiError, explain } from '../api/client.js'
import { useConsole } from '../state/console.js'
import { useStore } from '../state/store.js'

/** The login form: a controller API token (`liquid-controller token`, or the sandbox's `LLN_TOKEN`). */
export function Login() {
  const c = useConsole()
  const session = useStore(c.session)
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const input = useRef<HTMLInputElement>(null)
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault()
    const token = input.current?.value.trim() ?? ''
    if (token === '') {
      setError('Enter an API token.')
      return
    }
    setBusy(true)
    try {
      await c.login(token)
    } catch (err) {
      setError(
        err instanceof ApiError && err.kind === 'unauthorized'
          ? 'The controller does not accept this token. Check it, or create one with `liquid-controller token --name you --scope read`.'
          : explain(err),
      )
      input.current?.focus()
    } finally {
      setBusy(false)
    }
  }
  return (
    <main class="login" id="main">
      <h1>Liquid Edge console</h1>
      {session.ended === null ? null : (
        <p role="alert" class="warning">
          {session.ended}
        </p>
      )}
      <form onSubmit={(e) => void submit(e)}>
        <label for="token">API token</label>
        <input id="token" ref={input} type="password" autoComplete="off" spellcheck={false} autoFocus aria-describedby="token-help" />
        <p id="token-help" class="hint">
          The same bearer token the CLI uses (<code>LLN_TOKEN</code>). A read-only token sees everything and changes nothing. It is kept in
          this tab only.
        </p>
        {error === null ? null : (
          <p role="alert" class="error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Checking…' : 'Log in'}
        </button>
      </form>
    </main>
  )
}
