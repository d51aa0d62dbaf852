import { setTimeout as sleep } from 'node:timers/promises'
import cliProgress from 'cli-progress'
import type { ApiAnswer, ApiClient } from './client.js'
import type { Io } from './output.js'

/** A rollout as the API answers it. */
export type RolloutInfo = ApiAnswer<'/v1/rollouts', 'post'>

const SETTLED = new Set(['completed', 'aborted', 'rolled-back', 'paused', 'staged'])

/** How far a wait goes: until the rollout settles, or until it bakes a step (its devices confirmed the release). */
export const UNTIL = ['settled', 'baking'] as const
export type Until = (typeof UNTIL)[number]

/** The rollout is running and bakes a step: its devices ran their trial and the step passed its gate; the rules judge it. */
export function isBaking(r: Pick<RolloutInfo, 'state' | 'bakeUntil'>): boolean {
  return r.state === 'running' && r.bakeUntil !== null
}

/** Piped output: a line on every change of state or step, on count changes at most this often, and at least this often. */
const CHANGE_EVERY_MS = 2000
const QUIET_EVERY_MS = 10_000

/** Progress of a wait as plain lines (logs, CI, pipes): on each change, never a redraw. */
export function plainProgress(io: Io, now: () => number = Date.now): (r: RolloutInfo) => void {
  let last = { phase: '', counts: '', at: 0 }
  return (r) => {
    const c = r.counts
    const done = c.succeeded + c.skipped + c.failed + c.silent
    const phase = `${r.state} step ${r.step + 1}/${r.steps.length}`
    const counts = `${done}/${Math.max(c.targeted, c.cohort)} devices done (${c.succeeded + c.skipped} ok, ${c.failed} failed, ${c.silent} silent), ${c.pending} pending`
    const t = now()
    const due = phase !== last.phase || (counts !== last.counts && t - last.at >= CHANGE_EVERY_MS) || t - last.at >= QUIET_EVERY_MS
    if (!due) return
    io.stderr(`  ${new Date(t).toISOString().slice(11, 19)} ${r.id} ${phase}: ${counts}\n`)
    last = { phase, counts, at: t }
  }
}

/** Poll a rollout until it settles (or bakes, `until: 'baking'`): a progress bar on a terminal, plain lines otherwise (none when `quiet`: --json). */
export async function waitForRollout(
  client: ApiClient,
  id: string,
  io: Io,
  o: { timeoutMs: number; quiet: boolean; pollMs?: number; until?: Until },
): Promise<RolloutInfo> {
  const bar =
    io.isTTY && !o.quiet
      ? new cliProgress.SingleBar(
          { format: ' {bar} {done}/{total} devices | step {step} | {state} | failed {failed} silent {silent}', stream: process.stderr },
          cliProgress.Presets.shades_classic,
        )
      : null
  const plain = bar === null && !o.quiet ? plainProgress(io) : null
  const deadline = Date.now() + o.timeoutMs
  let started = false
  try {
    for (;;) {
      const r = await client.ok(client.http.GET('/v1/rollouts/{id}', { params: { path: { id } } }))
      const c = r.counts
      const done = c.succeeded + c.skipped + c.failed + c.silent
      const payload = { done, step: `${r.step + 1}/${r.steps.length}`, state: r.state, failed: c.failed, silent: c.silent }
      plain?.(r)
      if (bar !== null) {
        if (!started) bar.start(Math.max(c.targeted, 1), done, payload)
        else bar.update(done, payload)
        bar.setTotal(Math.max(c.targeted, c.cohort, 1))
        started = true
      }
      if (SETTLED.has(r.state) || (o.until === 'baking' && isBaking(r)) || Date.now() > deadline) return r
      await sleep(o.pollMs ?? 500)
    }
  } finally {
    bar?.stop()
  }
}
