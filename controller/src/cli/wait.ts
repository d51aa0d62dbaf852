import { setTimeout as sleep } from 'node:timers/promises'
import cliProgress from 'cli-progress'
import type { ApiClient } from './client.js'
import type { Io } from './output.js'

export interface RolloutInfo {
  id: string
  kind: string
  name: string | null
  state: string
  reason: string | null
  strategy: string
  step: number
  steps: unknown[]
  target: string | null
  model: { name: string; version: string }
  counts: { targeted: number; cohort: number; pending: number; succeeded: number; failed: number; silent: number; skipped: number }
  createdAt: number
}

const SETTLED = new Set(['completed', 'aborted', 'rolled-back', 'paused', 'staged'])

/** Poll a rollout until it settles, with a progress bar on a terminal. */
export async function waitForRollout(client: ApiClient, id: string, io: Io, timeoutMs: number, pollMs = 500): Promise<RolloutInfo> {
  const bar = io.isTTY
    ? new cliProgress.SingleBar(
        { format: ' {bar} {done}/{total} devices | step {step} | {state} | failed {failed} silent {silent}', stream: process.stderr },
        cliProgress.Presets.shades_classic,
      )
    : null
  const deadline = Date.now() + timeoutMs
  let started = false
  try {
    for (;;) {
      const r = await client.call<RolloutInfo>('GET', `/v1/rollouts/${encodeURIComponent(id)}`)
      const c = r.counts
      const done = c.succeeded + c.skipped + c.failed + c.silent
      const payload = { done, step: `${r.step + 1}/${r.steps.length}`, state: r.state, failed: c.failed, silent: c.silent }
      if (bar !== null) {
        if (!started) bar.start(Math.max(c.targeted, 1), done, payload)
        else bar.update(done, payload)
        bar.setTotal(Math.max(c.targeted, c.cohort, 1))
        started = true
      }
      if (SETTLED.has(r.state) || Date.now() > deadline) return r
      await sleep(pollMs)
    }
  } finally {
    bar?.stop()
  }
}
