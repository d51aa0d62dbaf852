import { describe, expect, it } from 'vitest'
import { plainProgress, type RolloutInfo } from '../src/wait.js'

function rollout(state: string, step: number, succeeded: number, pending: number): RolloutInfo {
  return {
    id: 'r-1',
    state,
    step,
    steps: [{ percent: 25 }, { percent: 100 }],
    counts: { targeted: 8, cohort: 8, succeeded, skipped: 0, failed: 0, silent: 0, pending },
  } as unknown as RolloutInfo
}

describe('plainProgress', () => {
  it('prints a plain line on each change of state or step, count changes at most every 2 s, and one every 10 s when quiet', () => {
    const lines: string[] = []
    let t = Date.UTC(2026, 0, 1, 12, 0, 0)
    const show = plainProgress({ stdout: () => undefined, stderr: (s) => lines.push(s), env: {}, isTTY: false }, () => t)
    show(rollout('running', 0, 0, 2))
    t += 500
    show(rollout('running', 0, 1, 1)) // a count change within 2 s: not yet
    t += 500
    show(rollout('running', 1, 2, 6)) // a new step: at once
    t += 2500
    show(rollout('running', 1, 5, 3))
    t += 1000
    show(rollout('running', 1, 5, 3)) // nothing new
    t += 10_000
    show(rollout('running', 1, 5, 3)) // quiet for 10 s: a line anyway
    expect(lines).toEqual([
      '  12:00:00 r-1 running step 1/2: 0/8 devices done (0 ok, 0 failed, 0 silent), 2 pending\n',
      '  12:00:01 r-1 running step 2/2: 2/8 devices done (2 ok, 0 failed, 0 silent), 6 pending\n',
      '  12:00:03 r-1 running step 2/2: 5/8 devices done (5 ok, 0 failed, 0 silent), 3 pending\n',
      '  12:00:14 r-1 running step 2/2: 5/8 devices done (5 ok, 0 failed, 0 silent), 3 pending\n',
    ])
    expect(lines.join('')).not.toMatch(/\r/) // never a redraw: no carriage return…
    expect(lines.join('')).not.toContain('\u001b[') // … and no cursor movement
  })
})
