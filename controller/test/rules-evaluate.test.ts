import { describe, expect, it } from 'vitest'
import { RuleSchema, defaultRules, type RuleInput } from '../src/rules/rule.js'
import { evaluateDeviceRule, evaluateRule, tippingDevices, type Bucket, type DeviceFacts, type RuleContext } from '../src/rules/evaluate.js'
import { applyBaseline } from '../src/rules/thresholds.js'
import { emptyStats, type WindowStats } from '../src/telemetry/window-stats.js'
import { histIndex, histQuantile, QUANTILE_MASS } from '../src/telemetry/histogram.js'

const B = 1000
const NOW = 100_000 + 500 // inside bucket 100000: buckets before it are complete

function stats(p: Partial<WindowStats> & { latencyP50?: number }): WindowStats {
  const s = { ...emptyStats(), ...p }
  if (p.latencyP50 !== undefined) {
    s.latencySum = p.latencyP50 * s.inferences
    s.latencyInferences = s.inferences
    for (const [, mass] of QUANTILE_MASS) s.hist[histIndex(p.latencyP50)]! += mass * s.inferences
  }
  return s
}

/** `n` complete buckets ending before NOW, from a function of the bucket's age (1 = newest). */
function series(n: number, at: (age: number) => Partial<WindowStats> & { latencyP50?: number }): Bucket[] {
  return Array.from({ length: n }, (_, i) => ({ bucket: 100_000 - (i + 1) * B, stats: stats({ windows: 10, devices: 10, ...at(i + 1) }) }))
}

function rule(p: Partial<RuleInput> & Pick<RuleInput, 'metric' | 'action'>) {
  return RuleSchema.parse({ name: 'r', threshold: 0.1, windowMs: 2 * B, sustainedMs: 0, minSamples: 10, ...p })
}

function ctx(candidate: Bucket[], baseline: Bucket[] | null = null): RuleContext {
  return { now: NOW, bucketMs: B, candidate, baseline, budgets: { latencyThresholdMs: 10, energyBudgetMw: 100 } }
}

describe('rule evaluation', () => {
  const errorRule = rule({ metric: 'error_rate', action: 'rollback-rollout', sustainedMs: 3 * B })

  it('error-rate rule fires when errors stay above 10% for the sustained span', () => {
    const res = evaluateRule(errorRule, ctx(series(10, () => ({ inferences: 100, errors: 20 }))))
    expect(res).toMatchObject({ outcome: 'breached', firing: true, observed: 0.2, threshold: 0.1, sampleSize: 200, windowMs: 2 * B })
  })

  it('error-rate rule stays healthy on a healthy cohort', () => {
    const res = evaluateRule(errorRule, ctx(series(10, () => ({ inferences: 100, errors: 2 }))))
    expect(res).toMatchObject({ outcome: 'healthy', firing: false })
  })

  it('a spike shorter than the sustained span does not fire', () => {
    const res = evaluateRule(errorRule, ctx(series(10, (age) => ({ inferences: 100, errors: age <= 2 ? 60 : 1 }))))
    expect(res.outcome).toBe('breached')
    expect(res.firing).toBe(false)
  })

  it('no data is its own outcome, never healthy, and never fires', () => {
    expect(evaluateRule(errorRule, ctx([]))).toMatchObject({ outcome: 'no-data', firing: false, observed: null })
    // Too few samples for the minimum sample size is no data too.
    expect(evaluateRule(errorRule, ctx(series(10, () => ({ inferences: 2, errors: 2 })))).outcome).toBe('no-data')
  })

  it('the partial current bucket is not judged', () => {
    const current: Bucket = { bucket: 100_000, stats: stats({ windows: 1, inferences: 1000, errors: 1000 }) }
    expect(evaluateRule(errorRule, ctx([current, ...series(10, () => ({ inferences: 100, errors: 1 }))])).outcome).toBe('healthy')
  })

  it('latency rule compares with the model threshold + 50%', () => {
    const r = rule({ metric: 'latency_avg', comparison: 'budget', threshold: 0.5, action: 'rollback-rollout' })
    expect(evaluateRule(r, ctx(series(4, () => ({ inferences: 100, latencyP50: 16 }))))).toMatchObject({
      outcome: 'breached',
      firing: true,
      threshold: 15,
    })
    expect(evaluateRule(r, ctx(series(4, () => ({ inferences: 100, latencyP50: 12 }))))).toMatchObject({ outcome: 'healthy' })
  })

  it('energy rule compares with the budget + 25%, and is no data without a budget', () => {
    const r = rule({ metric: 'energy_avg', comparison: 'budget', threshold: 0.25, minSamples: 1, action: 'rollback-rollout' })
    const hot = series(4, () => ({ powerSum: 140 * 10, powerWindows: 10 }))
    expect(evaluateRule(r, ctx(hot))).toMatchObject({ outcome: 'breached', observed: 140, threshold: 125 })
    expect(evaluateRule(r, ctx(series(4, () => ({ powerSum: 110 * 10, powerWindows: 10 }))))).toMatchObject({ outcome: 'healthy' })
    expect(evaluateRule(r, { ...ctx(hot), budgets: { latencyThresholdMs: 10, energyBudgetMw: null } }).outcome).toBe('no-data')
  })

  it('baseline rule compares the candidate with the cohort on the old model', () => {
    const r = rule({ metric: 'error_rate', comparison: 'baseline', threshold: 1, action: 'alert' })
    const candidate = series(4, () => ({ inferences: 100, errors: 8 }))
    expect(
      evaluateRule(
        r,
        ctx(
          candidate,
          series(4, () => ({ inferences: 100, errors: 2 })),
        ),
      ),
    ).toMatchObject({ outcome: 'breached', baseline: 0.02 })
    expect(
      evaluateRule(
        r,
        ctx(
          candidate,
          series(4, () => ({ inferences: 100, errors: 6 })),
        ),
      ),
    ).toMatchObject({ outcome: 'healthy', baseline: 0.06 })
    expect(evaluateRule(r, ctx(candidate, null)).outcome).toBe('no-data')
  })

  it('the merged histogram gives back a device p95', () => {
    const s = stats({ inferences: 100, latencyP50: 4 })
    s.hist.fill(0)
    for (const [q, mass] of QUANTILE_MASS) s.hist[histIndex({ p50: 4, p95: 9, p99: 20, max: 40 }[q])]! += mass * 100
    expect(histQuantile(s.hist, 0.5)).toBeGreaterThanOrEqual(4)
    expect(histQuantile(s.hist, 0.5)).toBeLessThan(4 * 1.2)
    expect(histQuantile(s.hist, 0.95)).toBeGreaterThanOrEqual(9)
    expect(histQuantile(s.hist, 0.95)).toBeLessThan(9 * 1.2)
  })

  it('tipping devices are those whose own value breaks the limit, worst first', () => {
    const shares = [
      { deviceId: 'a', inferences: 100, errors: 30, latencySum: 0, powerSum: 0, powerWindows: 0 },
      { deviceId: 'b', inferences: 100, errors: 1, latencySum: 0, powerSum: 0, powerWindows: 0 },
      { deviceId: 'c', inferences: 100, errors: 50, latencySum: 0, powerSum: 0, powerWindows: 0 },
    ]
    expect(tippingDevices('error_rate', shares, 0.1)).toEqual(['c', 'a'])
  })
})

describe('device rules', () => {
  const base: DeviceFacts = {
    id: 'd',
    dispatchedAt: 10_000,
    online: true,
    statusAt: 10_000,
    lastTelemetryAt: 99_000,
    telemetryWindowMs: 1000,
    lastCrashAt: null,
  }
  const unresponsive = rule({ metric: 'unresponsive', threshold: 0, windowMs: 5000, action: 'rollback-device' })
  const crashed = rule({ metric: 'crashed', threshold: 0, windowMs: 60_000, action: 'rollback-device' })

  it('unresponsive: offline for the window since a Last Will after the dispatch, or silent for the window since last heard alive', () => {
    const devs = [
      { ...base, id: 'ok' },
      { ...base, id: 'will', online: false, statusAt: 50_000 },
      // offline for less than the window (a reboot): not yet
      { ...base, id: 'rebooting', online: false, statusAt: NOW - 1000 },
      { ...base, id: 'quiet', lastTelemetryAt: 90_000 },
      { ...base, id: 'old-will', online: false, statusAt: 5_000 },
      { ...base, id: 'never-sent', lastTelemetryAt: null },
      // reports every 2 s: 5.5 s quiet is not yet 3 missed reports (6 s)
      { ...base, id: 'slow-reporter', lastTelemetryAt: NOW - 5_500, telemetryWindowMs: 2_000 },
      // … 7 s is
      { ...base, id: 'slow-and-silent', lastTelemetryAt: NOW - 7_000, telemetryWindowMs: 2_000 },
      // gone before the model went out: it never received it, so it is not rolled back (the step counts it silent)
      { ...base, id: 'gone-before', online: false, statusAt: 3_000, lastTelemetryAt: 2_000 },
    ]
    expect(evaluateDeviceRule(unresponsive, devs, NOW)).toMatchObject({
      outcome: 'breached',
      firing: true,
      devices: ['quiet', 'slow-and-silent', 'will'],
    })
  })

  it('crashed: a crash event after the dispatch', () => {
    const devs = [
      { ...base, id: 'crash', lastCrashAt: 60_000 },
      { ...base, id: 'before', lastCrashAt: 9_000 },
    ]
    expect(evaluateDeviceRule(crashed, devs, NOW).devices).toEqual(['crash'])
    expect(evaluateDeviceRule(crashed, [base], NOW)).toMatchObject({ outcome: 'healthy', firing: false })
    expect(evaluateDeviceRule(crashed, [], NOW).outcome).toBe('no-data')
  })
})

describe('rule sets', () => {
  it('defaults carry the runbook thresholds and actions', () => {
    const byName = new Map(defaultRules().map((r) => [r.name, r]))
    expect(byName.get('error-rate')).toMatchObject({ threshold: 0.1, sustainedMs: 120_000, action: 'rollback-rollout' })
    expect(byName.get('latency')).toMatchObject({ comparison: 'budget', threshold: 0.5, action: 'rollback-rollout' })
    expect(byName.get('energy')).toMatchObject({ comparison: 'budget', threshold: 0.25, action: 'rollback-rollout' })
    expect(byName.get('error-rate-alert')).toMatchObject({ threshold: 0.05, action: 'alert' })
    expect(byName.get('latency-alert')).toMatchObject({ threshold: 0.2 })
    expect(byName.get('energy-alert')).toMatchObject({ threshold: 0.15 })
    expect(byName.get('device-unresponsive')?.action).toBe('rollback-device')
    expect(byName.get('memory-alert')?.metric).toBe('memory_used')
    expect(defaultRules(0.01).find((r) => r.name === 'error-rate')?.sustainedMs).toBe(1200)
  })

  it('a rule refuses a device action on a window metric', () => {
    expect(RuleSchema.safeParse({ name: 'x', metric: 'error_rate', threshold: 1, windowMs: 1, action: 'rollback-device' }).success).toBe(
      false,
    )
  })

  it('a recorded baseline turns budget rules into absolute limits', () => {
    const set = applyBaseline({ rules: defaultRules(), dryRun: false }, { latencyMs: 8, energyMw: 200, errorRate: 0.01 })
    const byName = new Map(set.rules.map((r) => [r.name, r]))
    expect(byName.get('latency')).toMatchObject({ comparison: 'absolute', threshold: 12 })
    expect(byName.get('energy')).toMatchObject({ comparison: 'absolute', threshold: 250 })
    expect(byName.get('error-rate')?.threshold).toBeCloseTo(0.11)
  })
})
