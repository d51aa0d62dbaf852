import { useEffect, useRef, useState } from 'preact/hooks'
import { explain } from '../api/client.js'
import { RollbackResultSchema, RolloutSchema, type Rollout } from '../api/schemas.js'
import { formatRoute } from '../router.js'
import { useConsole } from '../state/console.js'

interface ActionDef {
  key: 'pause' | 'resume' | 'promote' | 'abort' | 'rollback' | 'switch'
  label: string
  /** What the operator confirms. */
  effect: string
  allowed: (r: Rollout) => boolean
  danger?: boolean
}

const ACTIONS: ActionDef[] = [
  {
    key: 'pause',
    label: 'Pause',
    effect: 'No further devices are dispatched until it is resumed.',
    allowed: (r) => ['created', 'running'].includes(r.state),
  },
  {
    key: 'resume',
    label: 'Resume',
    effect: 'Dispatch continues; the failures seen so far are accepted.',
    allowed: (r) => r.state === 'paused',
  },
  {
    key: 'promote',
    label: 'Promote',
    effect: 'The bake of the current step ends now; the next step starts once its devices have answered.',
    allowed: (r) => r.state === 'running' && r.bakeMs > 0,
  },
  {
    key: 'switch',
    label: 'Switch',
    effect: 'The staged candidate becomes the active model on every device at once.',
    allowed: (r) => r.state === 'staged',
  },
  {
    key: 'abort',
    label: 'Abort',
    effect: 'The rollout stops; devices still pending go back to their previous model with a new desired state.',
    allowed: (r) => ['created', 'running', 'paused', 'staged', 'switching'].includes(r.state),
    danger: true,
  },
  {
    key: 'rollback',
    label: 'Roll back',
    effect: 'Every device of this rollout goes back to the model it ran before (a new desired state each; gates skipped; safe to repeat).',
    allowed: (r) => r.kind === 'deploy' && r.state !== 'rolled-back',
    danger: true,
  },
]

/** The outcome of one action, as the operator sees it. */
interface Outcome {
  ok: boolean
  text: string
  link?: { href: string; label: string }
}

async function perform(c: ReturnType<typeof useConsole>, a: ActionDef, r: Rollout): Promise<Outcome> {
  const id = encodeURIComponent(r.id)
  if (a.key === 'rollback') {
    const res = await c.api.post('/v1/rollback', { rolloutId: r.id, toPrevious: true }, RollbackResultSchema)
    if (res.rollout === null) return { ok: true, text: `Nothing to roll back: ${res.unchanged} devices already run their previous model.` }
    return {
      ok: true,
      text: `Rollback ${res.rollout.id} issued: ${res.touched} devices get a new desired state (${res.unchanged} already there). Their generations show in its device table.`,
      link: { href: formatRoute({ page: 'rollout', id: res.rollout.id }), label: `Open ${res.rollout.id}` },
    }
  }
  const next =
    a.key === 'switch'
      ? await c.api.post('/v1/switch', { rolloutId: r.id }, RolloutSchema)
      : await c.api.post(`/v1/rollouts/${id}/${a.key}`, {}, RolloutSchema)
  return { ok: true, text: `${a.label}: the rollout is ${next.state} (revision ${next.revision}).` }
}

/** The rollout's actions, each confirmed in a dialog; the controller decides whether the token may. */
export function RolloutActions({ rollout, onDone }: { rollout: Rollout; onDone: () => void }) {
  const c = useConsole()
  const dialog = useRef<HTMLDialogElement>(null)
  const [pending, setPending] = useState<ActionDef | null>(null)
  const [busy, setBusy] = useState(false)
  const [outcome, setOutcome] = useState<Outcome | null>(null)
  const readOnly = !c.can('operate')
  useEffect(() => {
    if (pending !== null && dialog.current?.open === false) dialog.current.showModal()
  }, [pending])
  const close = (): void => {
    dialog.current?.close()
    setPending(null)
  }
  const confirm = async (): Promise<void> => {
    if (pending === null) return
    setBusy(true)
    try {
      setOutcome(await perform(c, pending, rollout))
      onDone()
    } catch (err) {
      setOutcome({ ok: false, text: explain(err) })
    } finally {
      setBusy(false)
      close()
    }
  }
  const available = ACTIONS.filter((a) => a.allowed(rollout))
  return (
    <div class="actions" aria-label="Rollout actions" role="group">
      {available.length === 0 ? <p class="muted">No action applies to a {rollout.state} rollout.</p> : null}
      {available.map((a) => (
        <button
          type="button"
          class={a.danger === true ? 'danger' : ''}
          onClick={() => {
            setPending(a)
          }}
          key={a.key}
        >
          {a.label}…
        </button>
      ))}
      {readOnly && available.length > 0 ? <p class="hint">Your token can read only: the controller will refuse these actions.</p> : null}
      {outcome === null ? null : (
        <p role={outcome.ok ? 'status' : 'alert'} class={outcome.ok ? 'ok' : 'error'}>
          {outcome.text} {outcome.link === undefined ? null : <a href={outcome.link.href}>{outcome.link.label}</a>}
        </p>
      )}
      <dialog
        ref={dialog}
        aria-labelledby="confirm-title"
        onClose={() => {
          setPending(null)
        }}
      >
        {pending === null ? null : (
          <form method="dialog" onSubmit={(e) => (e.preventDefault(), void confirm())}>
            <h3 id="confirm-title">
              {pending.label} {rollout.name ?? rollout.id}?
            </h3>
            <p>{pending.effect}</p>
            <div class="buttons">
              <button type="button" class="secondary" onClick={close} autoFocus>
                Cancel
              </button>
              <button type="submit" class={pending.danger === true ? 'danger' : ''} disabled={busy}>
                {busy ? 'Working…' : `${pending.label} now`}
              </button>
            </div>
          </form>
        )}
      </dialog>
    </div>
  )
}
