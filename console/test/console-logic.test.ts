import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { RolloutDetailSchema } from '../src/api/schemas.js'
import { nextDelay } from '../src/api/stream.js'
import { age, duration, figure, stepLabel } from '../src/format.js'
import { formatRoute, parseRoute, type Route } from '../src/router.js'
import { generations, stepRows } from '../src/views/rollout-steps.js'
import { visibleRange } from '../src/views/virtual-range.js'

describe('console routes', () => {
  it.each<Route>([
    { page: 'fleet', target: 'env in (staging,production),!canary', q: 'stm', phase: 'idle', model: 'kws@1.0.0', online: 'online' },
    { page: 'fleet', target: '', q: '', phase: '', model: '', online: '' },
    { page: 'rollouts' },
    { page: 'rollout', id: 'r-1a2b/3' },
    { page: 'events', filter: 'all' },
    { page: 'events', filter: 'decisions' },
    { page: 'device', id: 'cam 7' },
  ])('route %j survives the URL hash', (route) => {
    expect(parseRoute(formatRoute(route))).toEqual(route)
  })

  it('an unknown hash is the fleet page', () => {
    expect(parseRoute('#/nowhere')).toMatchObject({ page: 'fleet', target: '' })
  })
})

describe('virtual table window', () => {
  it('draws the rows in view plus the overscan, never past the ends', () => {
    expect(visibleRange({ scrollTop: 0, height: 340, rowHeight: 34, total: 10_000, overscan: 5 })).toEqual({ first: 0, last: 15 })
    expect(visibleRange({ scrollTop: 34 * 5000, height: 340, rowHeight: 34, total: 10_000, overscan: 5 })).toEqual({
      first: 4995,
      last: 5015,
    })
    expect(visibleRange({ scrollTop: 34 * 9990, height: 340, rowHeight: 34, total: 10_000, overscan: 5 })).toEqual({
      first: 9985,
      last: 10_000,
    })
    expect(visibleRange({ scrollTop: 0, height: 340, rowHeight: 34, total: 0 })).toEqual({ first: 0, last: 0 })
  })
})

describe('live stream back-off', () => {
  it('doubles from 1 s to at most 15 s, jittered by at most 20%', () => {
    expect([1, 2, 3, 4, 5, 9].map((n) => nextDelay(n, () => 0.5))).toEqual([1000, 2000, 4000, 8000, 15_000, 15_000])
    expect(nextDelay(1, () => 0)).toBe(800)
    expect(nextDelay(1, () => 1)).toBe(1200)
  })
})

describe('formatting', () => {
  it('says ages, durations and figures in their units', () => {
    expect(age(null, 0)).toBe('never')
    expect(age(1000, 5000)).toBe('4 s ago')
    expect(age(0, 3_600_000 * 2)).toBe('2 h ago')
    expect(duration(90_000)).toBe('1 min 30 s')
    expect(duration(3_600_000)).toBe('1 h')
    expect(figure(0.125, 'error_rate')).toBe('12.5%')
    expect(figure(4.5, 'latency_avg')).toBe('4.50 ms')
    expect(figure(null, 'energy_avg')).toBe('—')
    expect(stepLabel({ percent: 25 })).toBe('25%')
    expect(stepLabel({ devices: ['a', 'b'] })).toBe('a, b')
  })
})

describe('rollout steps', () => {
  const rollout = RolloutDetailSchema.parse({
    id: 'r-1',
    kind: 'deploy',
    revision: 3,
    createdAt: 0,
    updatedAt: 0,
    state: 'running',
    model: { name: 'kws', version: '2.0.0' },
    strategy: 'rolling',
    steps: [{ percent: 25 }, { percent: 100 }],
    step: 1,
    bakeMs: 0,
    counts: { targeted: 8, cohort: 8, pending: 3, succeeded: 4, failed: 1, silent: 0, skipped: 0 },
    devices_: [
      { id: 'a', outcome: 'succeeded', gen: 4, step: 0, error: null },
      { id: 'b', outcome: 'failed', gen: 5, step: 0, error: 'x', reverted: true },
      { id: 'c', outcome: 'succeeded', gen: 7, step: 1, error: null },
      { id: 'd', outcome: 'pending', gen: 6, step: 1, error: null },
      { id: 'e', outcome: 'silent', gen: 6, step: 1, error: null },
    ],
  })

  it('counts each step by outcome, a device sent back by a rule as rolled back', () => {
    expect(stepRows(rollout)).toEqual([
      { index: 0, label: '25%', status: 'done', inProgress: 0, succeeded: 1, failed: 0, silent: 0, skipped: 0, rolledBack: 1 },
      { index: 1, label: '100%', status: 'current', inProgress: 1, succeeded: 1, failed: 0, silent: 1, skipped: 0, rolledBack: 0 },
    ])
  })

  it('spans the desired generations it wrote', () => {
    expect(generations(rollout.devices_)).toEqual({ min: 4, max: 7, devices: 5 })
    expect(generations([])).toBeNull()
  })
})

/** WCAG 2 relative luminance of `#rrggbb`. */
function luminance(hex: string): number {
  const [r = 0, g = 0, b = 0] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
  const lin = (c: number) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4)
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
}
function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x)
  return ((hi ?? 0) + 0.05) / ((lo ?? 0) + 0.05)
}

describe('colours', () => {
  const css = readFileSync(join(import.meta.dirname, '..', 'src', 'styles.css'), 'utf8')
  const vars = new Map([...css.matchAll(/--([a-z]+):\s*(#[0-9a-f]{6})/g)].map((m): [string, string] => [m[1] ?? '', m[2] ?? '']))
  const v = (name: string): string => vars.get(name) ?? 'missing'

  it.each([
    ['text', v('fg'), v('bg')],
    ['muted text', v('muted'), v('bg')],
    ['muted text on panels', v('muted'), v('panel')],
    ['links', v('link'), v('bg')],
    ['button text', '#ffffff', v('link')],
    ['danger button text', '#ffffff', v('bad')],
    ['header text', '#ffffff', '#16213a'],
    ['errors', v('bad'), '#fdf0ef'],
  ])('%s meet WCAG AA contrast (4.5:1)', (_what, fg, bg) => {
    expect(contrast(fg, bg)).toBeGreaterThanOrEqual(4.5)
  })
})
