import { describe, expect, it } from 'vitest'
import { bucketOf, step, ZERO_COUNTS, type DeviceObservation, type DeviceProgress, type Effect, type Rollout } from '../src/index.js'

const SHA_NEW = 'a'.repeat(64)
const SHA_OLD = 'b'.repeat(64)
const OLD = { name: 'm', version: '1.0.0', sha256: SHA_OLD }
const NEW = { name: 'm', version: '2.0.0', sha256: SHA_NEW }

function rollout(over: Partial<Rollout> = {}): Rollout {
  return {
    id: 'r1',
    name: null,
    kind: 'deploy',
    revision: 1,
    createdAt: 0,
    updatedAt: 0,
    state: 'running',
    reason: null,
    target: '',
    devices: null,
    model: { ...NEW, size: 10, url: 'http://x/a', signature: `${'A'.repeat(86)}==` },
    policy: {
      trialMs: 1,
      latencyThresholdMs: 5,
      energyBudgetMw: null,
      maxErrorRate: 0.1,
      latencyTolerance: 0.5,
      energyTolerance: 0.25,
      minSamples: 20,
    },
    mode: 'activate',
    strategy: 'rolling',
    steps: [{ percent: 50 }, { percent: 100 }],
    stratifyBy: null,
    salt: 's',
    bakeMs: 0,
    stepDeadlineMs: 1000,
    gate: { successThreshold: 0.9, failureThreshold: 0.1, minSamples: 10, onFailure: 'pause' },
    rateLimitPerMin: null,
    maxInFlight: null,
    step: 0,
    stepStartedAt: 0,
    bakeUntil: null,
    tokens: 0,
    tokensAt: 0,
    switchRequestedAt: null,
    supersedes: [],
    rollbackOf: null,
    counts: ZERO_COUNTS,
    finalized: false,
    pendingRollback: false,
    acceptedFailures: 0,
    ...over,
  }
}

function device(
  id: string,
  rep: Partial<DeviceObservation['reported']> | null = { generation: 0, phase: 'active', active: OLD, staged: null, error: null },
): DeviceObservation {
  return {
    id,
    bucket: bucketOf(id, 's'),
    stratum: '',
    inTarget: true,
    progress: null,
    lockedByOther: false,
    currentSha: SHA_OLD,
    desiredBy: null,
    plan: null,
    reported: rep === null ? null : { generation: 0, phase: 'active', active: OLD, staged: null, error: null, ...rep },
  }
}

const dispatches = (effects: Effect[]) => effects.filter((e) => e.type === 'dispatch').map((e) => (e as { deviceId: string }).deviceId)
const ids = Array.from({ length: 10 }, (_, i) => `d${i}`)

function dispatched(id: string, at = 0, gen = 1): DeviceProgress {
  return {
    gen,
    step: 0,
    at,
    published: true,
    outcome: 'pending',
    outcomeAt: null,
    error: null,
    from: OLD,
    to: NEW,
    switched: 'no',
    reverted: false,
  }
}

describe('rollout state machine', () => {
  it('step dispatches exactly the first step cohort when the rollout starts', () => {
    const { next, effects } = step(rollout({ state: 'created' }), { devices: ids.map((i) => device(i)), signals: [] }, 10, new Map())
    expect(next.state).toBe('running')
    expect(dispatches(effects)).toHaveLength(5)
    expect(effects.filter((e) => e.type === 'event').map((e) => (e as { event: string }).event)).toEqual([
      'rollout-started',
      'step-started',
    ])
  })

  it('step advances to the next step when every device of the cohort reports active', () => {
    const first = step(rollout(), { devices: ids.map((i) => device(i)), signals: [] }, 10, new Map())
    const cohort = dispatches(first.effects)
    const progress = new Map(cohort.map((id) => [id, dispatched(id)]))
    const devices = ids.map((i) => (cohort.includes(i) ? device(i, { generation: 1, phase: 'active', active: NEW }) : device(i)))
    const { next, effects } = step(first.next, { devices, signals: [] }, 20, progress)
    expect(next.step).toBe(1)
    expect(next.counts.succeeded).toBe(5)
    expect(effects.some((e) => e.type === 'event' && e.event === 'step-completed')).toBe(true)
  })

  it('step pauses the rollout when the failure share passes the threshold', () => {
    const progress = new Map(['d0', 'd1'].map((id) => [id, dispatched(id)]))
    const r = rollout({ steps: [{ devices: ['d0', 'd1'] }, { percent: 100 }] })
    const devices = [
      device('d0', { generation: 1, phase: 'failed', error: 'AGENT_SHA256_MISMATCH: x' }),
      device('d1', { generation: 1, phase: 'active', active: NEW }),
    ]
    const { next, effects } = step(r, { devices, signals: [] }, 20, progress)
    expect(next.state).toBe('paused')
    expect(next.reason).toMatch(/1 of 2 devices failed or silent/)
    expect(effects.some((e) => e.type === 'event' && e.event === 'rollout-paused')).toBe(true)
  })

  it('step sends the devices a revert signal names back to their previous model, once', () => {
    const r = rollout({
      steps: [{ devices: ['d0', 'd1', 'd2'] }, { percent: 100 }],
      bakeMs: 60_000,
      gate: { successThreshold: 0.5, failureThreshold: 0.5, minSamples: 1, onFailure: 'pause' },
    })
    const progress = new Map(['d0', 'd1', 'd2'].map((id) => [id, dispatched(id)]))
    const devices = ['d0', 'd1', 'd2'].map((id) => device(id, { generation: 1, phase: 'active', active: NEW }))
    const signals = [{ action: 'revert-devices' as const, deviceIds: ['d1'], reason: 'crashed or unresponsive' }]
    const first = step(r, { devices, signals }, 20, progress)
    expect(first.effects.filter((e) => e.type === 'revert')).toEqual([
      { type: 'revert', deviceId: 'd1', to: OLD, reason: 'crashed or unresponsive' },
    ])
    expect(first.next.counts).toMatchObject({ succeeded: 2, failed: 1 })
    expect(first.next.state).toBe('running')
    // The executor stored the outcome; the same signal on the next tick sends nothing again.
    progress.set('d1', { ...dispatched('d1'), outcome: 'failed', reverted: true, error: 'crashed or unresponsive; sent back to 1.0.0' })
    const again = step(first.next, { devices, signals }, 30, progress)
    expect(again.effects.filter((e) => e.type === 'revert')).toEqual([])
    expect(again.next.counts).toMatchObject({ succeeded: 2, failed: 1 })
  })

  it('a stopped rollout sends back the devices it still waits for, except those another rollout has taken over', () => {
    const pending = ['d0', 'd1', 'd2', 'd3']
    const progress = new Map(pending.map((id) => [id, dispatched(id)]))
    const devices = [
      { ...device('d0'), desiredBy: 'r1' },
      { ...device('d1'), desiredBy: 'r1', lockedByOther: true }, // the superseding rollout's, not yet dispatched
      { ...device('d2'), desiredBy: 'r2' }, // the superseding rollout's, already sent its desired state
      { ...device('d3'), desiredBy: 'r1' },
    ]
    progress.set('d3', { ...dispatched('d3'), outcome: 'succeeded', outcomeAt: 5 })
    const reverts = (r: Rollout) => step(r, { devices, signals: [] }, 10, progress).effects.filter((e) => e.type === 'revert')
    expect(reverts(rollout({ state: 'rolled-back', reason: 'superseded by r2' }))).toEqual([
      { type: 'revert', deviceId: 'd0', to: OLD, reason: 'superseded by r2' },
    ])
    expect(reverts(rollout({ state: 'aborted', reason: 'aborted by operator' }))).toEqual([
      { type: 'revert', deviceId: 'd0', to: OLD, reason: 'aborted' },
    ])
    expect(reverts(rollout({ state: 'completed' }))).toEqual([])
  })

  it('step counts a device as silent when the step deadline passes without an answer', () => {
    const progress = new Map([['d0', dispatched('d0', 0)]])
    const r = rollout({
      steps: [{ devices: ['d0'] }],
      gate: { successThreshold: 0.9, failureThreshold: 0.5, minSamples: 1, onFailure: 'pause' },
    })
    const before = step(r, { devices: [device('d0')], signals: [] }, 999, progress)
    expect(before.next.counts.pending).toBe(1)
    const after = step(r, { devices: [device('d0')], signals: [] }, 1001, progress)
    expect(after.next.counts.silent).toBe(1)
    expect(after.next.state).toBe('paused')
    expect(after.effects).toContainEqual({ type: 'outcome', deviceId: 'd0', outcome: 'silent', error: 'no answer within 1000 ms' })
  })

  it('step holds a passed step for its bake time before moving on', () => {
    const progress = new Map([['d0', dispatched('d0')]])
    const r = rollout({ steps: [{ devices: ['d0'] }, { percent: 100 }], bakeMs: 500 })
    const devices = [device('d0', { generation: 1, phase: 'active', active: NEW }), device('d1')]
    const baking = step(r, { devices, signals: [] }, 100, progress)
    expect(baking.next.bakeUntil).toBe(600)
    expect(baking.next.step).toBe(0)
    expect(step(baking.next, { devices, signals: [] }, 599, progress).next.step).toBe(0)
    expect(step(baking.next, { devices, signals: [] }, 600, progress).next.step).toBe(1)
  })

  it('step respects max in flight and the rate limit when dispatching', () => {
    const devices = ids.map((i) => device(i))
    expect(
      dispatches(step(rollout({ steps: [{ percent: 100 }], maxInFlight: 3 }), { devices, signals: [] }, 0, new Map()).effects),
    ).toHaveLength(3)
    const limited = step(
      rollout({ steps: [{ percent: 100 }], rateLimitPerMin: 60, tokens: 2, tokensAt: 0 }),
      { devices, signals: [] },
      0,
      new Map(),
    )
    expect(dispatches(limited.effects)).toHaveLength(2)
  })

  it('step skips devices that already run the model and never dispatches a device twice', () => {
    const devices = ids.map((i) => ({ ...device(i), currentSha: i === 'd0' ? SHA_NEW : SHA_OLD }))
    const r = rollout({ steps: [{ percent: 100 }] })
    const first = step(r, { devices, signals: [] }, 0, new Map())
    expect(first.effects).toContainEqual(expect.objectContaining({ type: 'skip', deviceId: 'd0' }))
    const progress = new Map(dispatches(first.effects).map((id) => [id, dispatched(id)]))
    expect(dispatches(step(first.next, { devices, signals: [] }, 1, progress).effects)).toEqual([])
  })

  it('step ignores gates for rollbacks and completes when devices are back', () => {
    const r = rollout({
      kind: 'rollback',
      steps: [{ percent: 100 }],
      gate: { successThreshold: 0, failureThreshold: 1, minSamples: 1, onFailure: 'pause' },
    })
    const progress = new Map([
      ['d0', { ...dispatched('d0'), to: OLD }],
      ['d1', { ...dispatched('d1'), to: OLD }],
    ])
    const devices = [device('d0', { generation: 1, phase: 'active', active: OLD }), device('d1', { generation: 1, phase: 'failed' })]
    const { next } = step(
      r,
      {
        devices: devices.map((d) => ({
          ...d,
          plan: { via: 'desired' as const, model: { ...OLD, size: 1, url: 'http://x/b', signature: `${'A'.repeat(86)}==` } },
        })),
        signals: [],
      },
      5,
      progress,
    )
    expect(next.state).toBe('completed')
  })

  it('step acts on a rule signal (the seam for telemetry rules) when one is observed', () => {
    const { next } = step(
      rollout(),
      { devices: ids.map((i) => device(i)), signals: [{ action: 'rollback', reason: 'error rate 30% > 10%' }] },
      1,
      new Map(),
    )
    expect(next.state).toBe('rolled-back')
    expect(next.pendingRollback).toBe(true)
    const fin = step(next, { devices: [], signals: [] }, 2, new Map())
    expect(fin.effects.map((e) => e.type)).toEqual(['rollback-rollout', 'release'])
    expect(fin.next.finalized).toBe(true)
  })
})
