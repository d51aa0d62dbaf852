import { describe, expect, it } from 'vitest'
import { bucketOf, step, ZERO_COUNTS, type DeviceObservation, type DeviceProgress, type Effect, type Rollout } from '../src/index.js'
import { PolicySchema } from '@liquid-edge/protocol'

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
    policy: PolicySchema.parse({ trialMs: 1, latencyThresholdMs: 5 }),
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
    rolledBackBy: null,
    ...over,
  }
}

function device(
  id: string,
  rep: Partial<NonNullable<DeviceObservation['reported']>> | null = {
    generation: 0,
    phase: 'active',
    active: OLD,
    staged: null,
    error: null,
  },
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
    online: true,
    hardware: 'x86-edge',
    reported: rep === null ? null : { generation: 0, phase: 'active', active: OLD, staged: null, previous: null, error: null, ...rep },
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
    route: 'release',
    note: null,
    switched: 'no',
    reverted: false,
    returned: null,
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
      device('d0', { generation: 1, phase: 'failed', error: 'PACKAGE_SHA256_MISMATCH: x' }),
      device('d1', { generation: 1, phase: 'active', active: NEW }),
    ]
    const { next, effects } = step(r, { devices, signals: [] }, 20, progress)
    expect(next.state).toBe('paused')
    expect(next.reason).toMatch(/1 of 2 devices failed or silent/)
    expect(effects.some((e) => e.type === 'event' && e.event === 'rollout-paused')).toBe(true)
  })

  it('step sends the devices a revert signal names back, a first install too, once', () => {
    const r = rollout({
      steps: [{ devices: ['d0', 'd1', 'd2', 'd3'] }, { percent: 100 }],
      bakeMs: 60_000,
      gate: { successThreshold: 0.5, failureThreshold: 0.75, minSamples: 1, onFailure: 'pause' },
    })
    const progress = new Map(['d0', 'd1', 'd2', 'd3'].map((id) => [id, dispatched(id)]))
    // d2 had no model before the release: it is sent back too (the executor picks the policy's fallback).
    progress.set('d2', { ...dispatched('d2'), from: null })
    const devices = ['d0', 'd1', 'd2', 'd3'].map((id) => device(id, { generation: 1, phase: 'active', active: NEW }))
    const signals = [{ action: 'revert-devices' as const, deviceIds: ['d1', 'd2'], reason: 'crashed or unresponsive' }]
    const first = step(r, { devices, signals }, 20, progress)
    expect(first.effects.filter((e) => e.type === 'revert')).toEqual([
      { type: 'revert', deviceId: 'd1', reason: 'crashed or unresponsive' },
      { type: 'revert', deviceId: 'd2', reason: 'crashed or unresponsive' },
    ])
    expect(first.next.counts).toMatchObject({ succeeded: 2, failed: 2 })
    expect(first.next.state).toBe('running')
    // The executor stored the outcome; the same signal on the next tick sends nothing again.
    for (const id of ['d1', 'd2'])
      progress.set(id, { ...dispatched(id), outcome: 'failed', reverted: true, error: 'crashed or unresponsive' })
    const again = step(first.next, { devices, signals }, 30, progress)
    expect(again.effects.filter((e) => e.type === 'revert')).toEqual([])
    expect(again.next.counts).toMatchObject({ succeeded: 2, failed: 2 })
  })

  it('a class the rules took out is sent back and gets no more of the release, while the rollout goes on for the others', () => {
    const r = rollout({
      steps: [{ devices: ['d0', 'd1', 'd4', 'd5'] }, { percent: 100 }],
      gate: { successThreshold: 0.9, failureThreshold: 0.1, minSamples: 1, onFailure: 'rollback' },
    })
    const fleet = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7']
    const hw = (id: string): string => (['d0', 'd1', 'd2', 'd3'].includes(id) ? 'stm32h743' : 'x86-edge')
    const progress = new Map(['d0', 'd1', 'd4', 'd5'].map((id) => [id, dispatched(id)]))
    const devices = fleet.map((id) => ({
      ...device(id, progress.has(id) ? { generation: 1, phase: 'active', active: NEW } : undefined),
      hardware: hw(id),
    }))
    const reason = 'rule energy [stm32h743, its budgets]: energy_avg 137 > 45; stm32h743 taken out of the rollout'
    const signals = [{ action: 'revert-class' as const, hardware: 'stm32h743', reason }]
    const first = step(r, { devices, signals }, 20, progress)
    // Only the STM32 canaries go back; the x86 ones keep the release, and the gate judges them alone.
    expect(first.effects.filter((e) => e.type === 'revert')).toEqual([
      { type: 'revert', deviceId: 'd0', reason },
      { type: 'revert', deviceId: 'd1', reason },
    ])
    expect(first.next.counts).toMatchObject({ cohort: 2, succeeded: 2, failed: 0 })
    expect(first.next.state).toBe('running')
    expect(first.next.step).toBe(1)
    // The executor stored the reverts. The next step sends the release to the remaining x86 devices only.
    for (const id of ['d0', 'd1']) progress.set(id, { ...dispatched(id), outcome: 'failed', reverted: true, error: reason })
    const second = step(first.next, { devices, signals }, 30, progress)
    expect(second.effects.filter((e) => e.type === 'revert')).toEqual([])
    expect(dispatches(second.effects).sort()).toEqual(['d6', 'd7'])
    expect(second.next.state).toBe('running')
  })

  it('a rollback counts an offline device as unreachable at once, and one that reports the way back as succeeded', () => {
    const r = rollout({
      kind: 'rollback',
      steps: [{ percent: 100 }],
      gate: { successThreshold: 0, failureThreshold: 1, minSamples: 1, onFailure: 'pause' },
    })
    const none: DeviceProgress = {
      ...dispatched('d0'),
      to: null,
      route: 'fallback',
      note: 'no previous model (first install); fallback: no model',
    }
    const progress = new Map<string, DeviceProgress>([
      ['d0', none],
      ['d1', { ...none }],
      ['d2', { ...dispatched('d2'), to: OLD, route: 'previous' as const }],
    ])
    const devices = [
      device('d0', { generation: 1, phase: 'idle', active: null }),
      { ...device('d1', { generation: 0, phase: 'active', active: NEW }), online: false },
      device('d2', { generation: 0, phase: 'active', active: NEW }),
    ]
    const { next, effects } = step(r, { devices, signals: [] }, 5, progress)
    expect(next.counts).toMatchObject({ succeeded: 1, silent: 1, pending: 1 })
    expect(next.state).toBe('running')
    const outcomes = effects.filter((e) => e.type === 'outcome').map((e) => [e.deviceId, e.outcome])
    expect(outcomes).toEqual([
      ['d0', 'succeeded'],
      ['d1', 'silent'],
    ])
    // d2 reports its previous model: the rollback completes and lists where every device went.
    progress.set('d0', { ...none, outcome: 'succeeded' })
    progress.set('d1', { ...none, outcome: 'silent', error: 'unreachable (offline)' })
    devices[2] = device('d2', { generation: 1, phase: 'active', active: OLD })
    const done = step(next, { devices, signals: [] }, 6, progress)
    expect(done.next.state).toBe('completed')
    const event = done.effects.find((e) => e.type === 'event' && e.event === 'rollout-completed')
    expect(event?.type === 'event' && event.message).toMatch(
      /2 of 3 devices converged \(1 on their previous model, 1 on the fallback \(1 with no model\)\); 1 unreachable, converging when they return: d1/,
    )
    expect(event?.type === 'event' && event.devices).toEqual([
      {
        deviceId: 'd0',
        model: null,
        route: 'fallback',
        outcome: 'converged',
        reason: 'no previous model (first install); fallback: no model',
      },
      {
        deviceId: 'd1',
        model: null,
        route: 'fallback',
        outcome: 'unreachable',
        reason: 'no previous model (first install); fallback: no model',
      },
      { deviceId: 'd2', model: { name: 'm', version: '1.0.0' }, route: 'previous', outcome: 'converged' },
    ])
  })

  it('a rollback tells a device online but silent past the deadline apart from an offline one', () => {
    const r = rollout({ kind: 'rollback', steps: [{ percent: 100 }], stepDeadlineMs: 1000 })
    const back: DeviceProgress = { ...dispatched('d0'), to: OLD, route: 'previous' }
    const progress = new Map<string, DeviceProgress>([
      ['d0', back],
      ['d1', { ...back }],
    ])
    // Both still on the release: d0 is online and never answers, d1 is offline.
    const devices = [
      device('d0', { generation: 0, phase: 'active', active: NEW }),
      { ...device('d1', { generation: 0, phase: 'active', active: NEW }), online: false },
    ]
    const early = step(r, { devices, signals: [] }, 500, progress)
    // The offline device does not hold the rollback up; the online one does, until the deadline.
    expect(early.next.counts).toMatchObject({ silent: 1, pending: 1 })
    expect(early.next.state).toBe('running')
    // Past the deadline the online one counts as silent too, and the rollback completes, saying which is which.
    const done = step(early.next, { devices, signals: [] }, 2000, progress)
    expect(done.next.state).toBe('completed')
    const event = done.effects.find((e) => e.type === 'event' && e.event === 'rollout-completed')
    const message = event?.type === 'event' ? event.message : ''
    expect(message).toContain('0 of 2 devices converged')
    expect(message).toContain('1 unreachable, converging when they return: d1')
    expect(message).toContain('1 online but silent for 1000 ms, the controller keeps sending their way back: d0')
    expect(event?.type === 'event' && event.devices?.map((d) => [d.deviceId, d.outcome])).toEqual([
      ['d0', 'pending'],
      ['d1', 'unreachable'],
    ])
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
      { type: 'revert', deviceId: 'd0', reason: 'superseded by r2' },
    ])
    expect(reverts(rollout({ state: 'aborted', reason: 'aborted by operator' }))).toEqual([
      { type: 'revert', deviceId: 'd0', reason: 'aborted' },
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

  it('step judges the failure gate on the devices the step targets, not on those finished first', () => {
    // 5,000 devices at once: 10 early timeouts and 50 successes are 17 % of the finished, 0.2 % of the step.
    const many = Array.from({ length: 5000 }, (_, i) => `m${i}`)
    const r = rollout({ steps: [{ percent: 100 }] })
    const outcome = (i: number): DeviceProgress['outcome'] => (i < 10 ? 'silent' : i < 60 ? 'succeeded' : 'pending')
    const early = new Map(many.map((id, i) => [id, { ...dispatched(id, 0, 1), outcome: outcome(i), error: null }]))
    const live = many.map((id) => device(id, null))
    const held = step(r, { devices: live, signals: [] }, 500, early)
    expect(held.next.state).toBe('running')
    expect(held.next.counts).toMatchObject({ silent: 10, succeeded: 50 })
    // Over 10 % of the step failed: paused, whatever is still pending.
    const worse = new Map(
      many.map((id, i) => [id, { ...dispatched(id, 0, 1), outcome: i < 501 ? 'failed' : 'pending', error: null }] as const),
    )
    expect(step(r, { devices: live, signals: [] }, 500, worse).next.state).toBe('paused')
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

  it('step counts only online devices as in flight: offline ones converge later and do not hold dispatch up', () => {
    const devices = ids.map((i, k) => ({ ...device(i), online: k < 3 ? false : true }))
    const told = new Map(ids.slice(0, 3).map((i) => [i, dispatched(i, 0, 1)]))
    const r = rollout({ steps: [{ percent: 100 }], maxInFlight: 3 })
    expect(dispatches(step(r, { devices, signals: [] }, 10, told).effects)).toHaveLength(3)
    const online = devices.map((d) => ({ ...d, online: true }))
    expect(dispatches(step(r, { devices: online, signals: [] }, 10, told).effects)).toHaveLength(0)
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
          plan: {
            via: 'desired' as const,
            model: { ...OLD, size: 1, url: 'http://x/b', signature: `${'A'.repeat(86)}==` },
            route: 'previous' as const,
            note: null,
          },
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
