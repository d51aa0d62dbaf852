import { describe, expect, it } from 'vitest'
import { RuleSchema, defaultRules, type RuleInput } from '../src/rules/rule.js'
import { addLatency, budgetFor, latencyQuantile } from '@liquid-edge/protocol'
import { evaluateDeviceRule, type DeviceFacts } from '../src/rules/device-rules.js'
import { silenceClock } from '../src/telemetry/listening.js'
import { evaluateRule, tippingDevices, type Bucket, type RuleContext } from '../src/rules/evaluate.js'
import { thresholdsOf, withThresholds } from '../src/rules/thresholds.js'
import { emptyStats, SHARE_KEYS, type WindowStats } from '../src/telemetry/window-stats.js'

const B = 1000
const NOW = 100_000 + 500 // inside bucket 100000: buckets before it are complete

/** Window stats; `latencies` are raw samples folded as a device would (count, sum, histogram). */
function stats(p: Partial<WindowStats> & { latencies?: number[]; powerMw?: number }): WindowStats {
  const { latencies, powerMw, ...rest } = p
  const s = { ...emptyStats(), ...rest }
  for (const v of latencies ?? []) {
    addLatency(s.latency, v)
    s.latencySum += v
    s.latencyCount++
  }
  if (powerMw !== undefined) {
    // 10 windows of 1 s at that average power.
    s.energyJoules = (powerMw * 10_000) / 1e6
    s.energyMs = 10_000
    s.energyWindows = 10
  }
  return s
}

const repeat = (v: number, n: number): number[] => Array.from({ length: n }, () => v)

/** `n` complete buckets ending before NOW, from a function of the bucket's age (1 = newest). */
function series(n: number, at: (age: number) => Parameters<typeof stats>[0]): Bucket[] {
  return Array.from({ length: n }, (_, i) => ({ bucket: 100_000 - (i + 1) * B, stats: stats({ windows: 10, devices: 10, ...at(i + 1) }) }))
}

function rule(p: Partial<RuleInput> & Pick<RuleInput, 'metric' | 'action'>) {
  return RuleSchema.parse({ name: 'r', threshold: 0.1, windowMs: 2 * B, sustainedMs: 0, minSamples: 10, ...p })
}

function ctx(candidate: Bucket[], baseline: Bucket[] | null = null): RuleContext {
  return { now: NOW, bucketMs: B, candidate, baseline, budgets: budgetFor({ latencyThresholdMs: 10, energyBudgetMw: 100 }, null) }
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
    expect(evaluateRule(r, ctx(series(4, () => ({ inferences: 100, latencies: repeat(16, 100) }))))).toMatchObject({
      outcome: 'breached',
      firing: true,
      threshold: 15,
      approximate: false,
    })
    expect(evaluateRule(r, ctx(series(4, () => ({ inferences: 100, latencies: repeat(12, 100) }))))).toMatchObject({ outcome: 'healthy' })
  })

  it('latency rule judges the true mean: a slow tail with a fast median breaks it', () => {
    const r = rule({ metric: 'latency_avg', comparison: 'budget', threshold: 0.5, action: 'rollback-rollout' })
    // 90 % at 4 ms (median far below the 15 ms limit), 10 % at 200 ms: the mean is 23.6 ms.
    const tail = series(4, () => ({ inferences: 100, latencies: [...repeat(4, 90), ...repeat(200, 10)] }))
    const res = evaluateRule(r, ctx(tail))
    expect(res).toMatchObject({ outcome: 'breached', threshold: 15 })
    expect(res.observed).toBeCloseTo(23.6, 9)
    expect(latencyQuantile(tail[0]!.stats.latency, 0.5)).toBeLessThan(4.1)
  })

  it('energy rule compares with the budget + 25%, and is no data without a budget', () => {
    const r = rule({ metric: 'energy_avg', comparison: 'budget', threshold: 0.25, minSamples: 1, action: 'rollback-rollout' })
    const hot = series(4, () => ({ powerMw: 140 }))
    const res = evaluateRule(r, ctx(hot))
    expect(res).toMatchObject({ outcome: 'breached', threshold: 125 })
    expect(res.observed).toBeCloseTo(140, 9)
    expect(evaluateRule(r, ctx(series(4, () => ({ powerMw: 110 }))))).toMatchObject({ outcome: 'healthy' })
    expect(evaluateRule(r, { ...ctx(hot), budgets: budgetFor({ latencyThresholdMs: 10, energyBudgetMw: null }, null) }).outcome).toBe(
      'no-data',
    )
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

  it('the p95 rule reads the merged histogram within its relative error', () => {
    const r = rule({ metric: 'latency_p95', comparison: 'absolute', threshold: 9.5, action: 'alert' })
    // 94 % at 4 ms and 6 % at 10 ms: the exact p95 is 10 ms.
    const res = evaluateRule(r, ctx(series(4, () => ({ inferences: 100, latencies: [...repeat(4, 94), ...repeat(10, 6)] }))))
    expect(res.outcome).toBe('breached')
    expect(Math.abs((res.observed ?? 0) - 10) / 10).toBeLessThanOrEqual(0.01)
  })

  it('an agreement rule breaks when agreement falls below its minimum', () => {
    const r = rule({ metric: 'agreement', threshold: 0.9, action: 'rollback-rollout' })
    expect(evaluateRule(r, ctx(series(4, () => ({ compared: 50, agreed: 40 }))))).toMatchObject({ outcome: 'breached', observed: 0.8 })
    expect(evaluateRule(r, ctx(series(4, () => ({ compared: 50, agreed: 49 }))))).toMatchObject({ outcome: 'healthy' })
  })

  it('a budget measure the devices report without is unknown, not no-data and not healthy; optional where the class says so', () => {
    const r = rule({ metric: 'energy_avg', comparison: 'budget', threshold: 0.25, minSamples: 1, action: 'rollback-rollout' })
    // Windows arrive, none with energy: the devices cannot measure it.
    const noMeter = series(4, () => ({ inferences: 100, errors: 0 }))
    expect(evaluateRule(r, ctx(noMeter))).toMatchObject({ outcome: 'unknown', firing: false, observed: null, optional: false })
    const policy = { latencyThresholdMs: 10, energyBudgetMw: 100, budgets: { 'x86-edge': { optional: ['energy' as const] } } }
    const optional = evaluateRule(r, { ...ctx(noMeter), budgets: budgetFor(policy, 'x86-edge') })
    expect(optional).toMatchObject({ outcome: 'unknown', optional: true, budgetClass: 'x86-edge' })
    // Nothing reported at all is no data.
    expect(evaluateRule(r, ctx([])).outcome).toBe('no-data')
  })

  it('the accuracy gate judges evaluations against the minimum accuracy; unknown until devices evaluate; no minimum, no data', () => {
    const gate = defaultRules(B / 60_000).find((x) => x.name === 'accuracy')
    if (gate === undefined) throw new Error('no accuracy rule among the defaults')
    expect(gate).toMatchObject({ metric: 'accuracy', comparison: 'budget', action: 'rollback-rollout' })
    const budgets = budgetFor({ latencyThresholdMs: 10, energyBudgetMw: null, minAccuracy: 0.75 }, 'x86-edge')
    // 64 samples, 20 right: 0.3125 < 0.75.
    const low = series(2, (age) => (age === 1 ? { evaluated: 64, correct: 20 } : {}))
    expect(evaluateRule(gate, { ...ctx(low), budgets })).toMatchObject({
      outcome: 'breached',
      firing: true,
      observed: 20 / 64,
      threshold: 0.75,
      sampleSize: 64,
    })
    const good = series(2, (age) => (age === 1 ? { evaluated: 64, correct: 56 } : {}))
    expect(evaluateRule(gate, { ...ctx(good), budgets })).toMatchObject({ outcome: 'healthy', firing: false, observed: 0.875 })
    // The devices report, but nobody asked them to evaluate: unknown, never healthy, never firing.
    const unasked = series(2, () => ({ inferences: 100 }))
    expect(evaluateRule(gate, { ...ctx(unasked), budgets })).toMatchObject({ outcome: 'unknown', firing: false, optional: false })
    const optional = budgetFor({ latencyThresholdMs: 10, energyBudgetMw: null, minAccuracy: 0.75, optional: ['accuracy'] }, null)
    expect(evaluateRule(gate, { ...ctx(unasked), budgets: optional })).toMatchObject({ outcome: 'unknown', optional: true })
    // Too few samples to judge, or a package without a minimum: no verdict.
    const few = series(2, (age) => (age === 1 ? { evaluated: 10, correct: 0 } : {}))
    expect(evaluateRule(gate, { ...ctx(few), budgets }).outcome).toBe('no-data')
    expect(evaluateRule(gate, ctx(low))).toMatchObject({ outcome: 'no-data', threshold: null })
    // A tolerance lowers the limit: 0.75 × (1 − 0.2) = 0.6.
    expect(evaluateRule({ ...gate, threshold: 0.2 }, { ...ctx(low), budgets }).threshold).toBeCloseTo(0.6, 12)
  })

  it('a budget rule judges each hardware class against its own budgets', () => {
    const r = rule({ metric: 'energy_avg', comparison: 'budget', threshold: 0.25, minSamples: 1, action: 'rollback-rollout' })
    const policy = { latencyThresholdMs: 10, energyBudgetMw: 6200, budgets: { stm32h743: { energyBudgetMw: 300 } } }
    const mcu = series(4, () => ({ powerMw: 1000 }))
    // 1 W is far under the x86's 6.2 W default, and over the STM32's 300 mW + 25 %.
    expect(evaluateRule(r, { ...ctx(mcu), budgets: budgetFor(policy, 'x86-edge') })).toMatchObject({
      outcome: 'healthy',
      budgetClass: 'default',
    })
    expect(evaluateRule(r, { ...ctx(mcu), budgets: budgetFor(policy, 'stm32h743') })).toMatchObject({
      outcome: 'breached',
      threshold: 375,
      budgetClass: 'stm32h743',
    })
  })

  it('a memory budget rule compares the bytes in use with the class budget', () => {
    const r = rule({ metric: 'memory_bytes', comparison: 'budget', threshold: 0, minSamples: 1, action: 'alert' })
    const budgets = budgetFor({ latencyThresholdMs: 10, energyBudgetMw: null, memoryBudgetBytes: 500_000 }, null)
    expect(evaluateRule(r, { ...ctx(series(4, () => ({ windows: 1, memoryUsedMax: 600_000 }))), budgets })).toMatchObject({
      outcome: 'breached',
      observed: 600_000,
      threshold: 500_000,
    })
  })

  it('tipping devices are those whose own value breaks the limit, worst first', () => {
    const share = (deviceId: string, errors: number) => {
      const d = { deviceId, ...Object.fromEntries(SHARE_KEYS.map((k) => [k, 0])) } as Record<(typeof SHARE_KEYS)[number], number> & {
        deviceId: string
      }
      return { ...d, inferences: 100, errors }
    }
    const shares = [share('a', 30), share('b', 1), share('c', 50)]
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

  it('unresponsive: silence within the switch grace after the dispatch is graced, not counted; a Last Will gets no grace', () => {
    // Sent the model at 95 s, heard last at 96 s, silent since: 4.5 s is not yet the 5 s window…
    const switching = { ...base, id: 'switching', dispatchedAt: 95_000, lastTelemetryAt: 96_000 }
    const dead = { ...base, id: 'dead', dispatchedAt: 20_000, lastTelemetryAt: 21_000 }
    const will = { ...base, id: 'will', dispatchedAt: 95_000, online: false, statusAt: 95_100 }
    const later = NOW + 3_000
    // … at NOW + 3 s it is 7.5 s silent: without a grace it counts; with 10 s of grace it is graced.
    expect(evaluateDeviceRule(unresponsive, [switching, dead, will], later).devices).toEqual(['dead', 'switching', 'will'])
    const graced = evaluateDeviceRule(unresponsive, [switching, dead, will], later, 10_000)
    expect(graced).toMatchObject({ devices: ['dead', 'will'], graced: ['switching'], graceMs: 10_000 })
    // Once the grace has run out and it is still silent for the window, it counts.
    expect(evaluateDeviceRule(unresponsive, [switching], 95_000 + 10_000 + 5_001, 10_000)).toMatchObject({
      devices: ['switching'],
      graced: [],
    })
    // A device heard again after the dispatch is simply responsive.
    expect(evaluateDeviceRule(unresponsive, [{ ...switching, lastTelemetryAt: later - 100 }], later, 10_000)).toMatchObject({
      devices: [],
      graced: [],
    })
  })

  it('unresponsive: an offline status its own telemetry contradicts is not believed; silence decides', () => {
    const devs = [
      // "offline" at 50 s, yet its telemetry is still heard after that: a forged or stale status
      { ...base, id: 'heard-after', online: false, statusAt: 50_000, heardAt: NOW - 500 },
      // heard after the offline, then silent for three of its reports: unresponsive by silence
      { ...base, id: 'then-silent', online: false, statusAt: 50_000, heardAt: 52_000, lastTelemetryAt: 52_000 },
      // last heard before the offline: the offline stands
      { ...base, id: 'heard-before', online: false, statusAt: 50_000, heardAt: 49_000 },
    ]
    expect(evaluateDeviceRule(unresponsive, devs, NOW).devices).toEqual(['heard-before', 'then-silent'])
  })

  it("unresponsive: silence is measured on the listener's clock, never before its span began", () => {
    // Heard last at 90 s; the controller listened again from 98 s and last beat at 99 s.
    const quiet = { ...base, id: 'quiet', lastTelemetryAt: 90_000 }
    const heard = silenceClock({ since: 98_000, at: 99_000 }, NOW, 500)
    expect(heard).toEqual({ now: 99_500, since: 98_000 })
    // 1.5 s of known silence is not the 5 s window: the 8 s nobody listened do not count.
    expect(evaluateDeviceRule(unresponsive, [{ ...quiet, listeningSince: heard.since }], heard.now).devices).toEqual([])
    // Listened to for the whole span, it counts.
    expect(evaluateDeviceRule(unresponsive, [{ ...quiet, listeningSince: 80_000 }], NOW).devices).toEqual(['quiet'])
    // Nobody has listened yet: nothing is silent.
    expect(silenceClock(null, NOW, 500)).toEqual({ now: NOW, since: NOW })
  })

  it('unresponsive: after listening resumes, devices get the reconnect grace, or less once they are back', () => {
    // The broker restarted: the controller listens again from 80 s; the devices were last heard at 70 s.
    const since = 80_000
    const gone = { ...base, lastTelemetryAt: 70_000, listeningSince: since }
    const devs = [
      // still in its reconnect back-off: not judged before 80 s + the 20 s grace (+ the 5 s window)
      { ...gone, id: 'backing-off', connectedAt: 60_000 },
      // back at 85 s and silent since: judged from its own reconnect
      { ...gone, id: 'back-silent', connectedAt: 85_000 },
      // a Last Will delivered as the broker went down: offline counts from the end of the grace too
      { ...gone, id: 'will', online: false, statusAt: 79_000, connectedAt: null },
    ]
    // 20 s into the span: the grace has not run out; only the device that came back and went quiet counts.
    expect(evaluateDeviceRule(unresponsive, devs, NOW, 0, 20_000).devices).toEqual(['back-silent'])
    // Without the grace, every device still reconnecting would be sent back.
    expect(evaluateDeviceRule(unresponsive, devs, NOW, 0, 0).devices).toEqual(['back-silent', 'backing-off', 'will'])
    // Past the grace and the window, the ones that never came back count.
    expect(evaluateDeviceRule(unresponsive, devs, since + 20_000 + 5_001, 0, 20_000).devices).toEqual([
      'back-silent',
      'backing-off',
      'will',
    ])
    // A device heard after its reconnect is simply responsive.
    expect(
      evaluateDeviceRule(unresponsive, [{ ...gone, connectedAt: 85_000, lastTelemetryAt: NOW - 500 }], NOW, 0, 20_000).devices,
    ).toEqual([])
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

  it('a recorded baseline becomes the budgets the rules judge each hardware class against', () => {
    const q = (mean: number) => ({ samples: 100, mean, p50: mean, p95: mean * 1.2, p99: mean * 1.3, max: mean * 2 })
    const group = (model: string, hardware: string, devices: number, latency: number, power: number) => ({
      model,
      hardware,
      devices,
      latencyMs: q(latency),
      energyMw: q(power),
      errorRate: 0.01,
      inferences: 1000,
    })
    const t = thresholdsOf({
      format: 'liquid-lln/baseline',
      version: 1,
      createdAt: 0,
      target: 'production',
      durationMs: 60_000,
      groups: [
        group('kws@1.0.0', 'stm32h743', 3, 8, 200),
        group('kws@0.9.0', 'stm32h743', 1, 50, 900),
        group('kws@1.0.0', 'x86-edge', 2, 0.5, 4000),
      ],
      devices: [],
    })
    // Per class the group of the most devices: its mean latency and mean power.
    expect(t.budgets).toEqual({
      stm32h743: { latencyThresholdMs: 8, energyBudgetMw: 200 },
      'x86-edge': { latencyThresholdMs: 0.5, energyBudgetMw: 4000 },
    })
    const set = withThresholds({ rules: defaultRules(), dryRun: false }, t, 'a baseline')
    expect(set.rules).toEqual(defaultRules()) // the rules stay the runbook's: only what they compare with changes
    const latency = set.rules.find((r) => r.name === 'latency')!
    const ctx = (latencyMs: number): RuleContext => ({
      now: NOW,
      bucketMs: B,
      candidate: Array.from({ length: 90 }, (_, i) => ({
        bucket: 10_000 + i * B,
        stats: stats({ inferences: 100, latencies: repeat(latencyMs, 100) }),
      })),
      baseline: null,
      budgets: budgetFor({ latencyThresholdMs: 100, energyBudgetMw: null, budgets: set.budgets ?? {} }, 'stm32h743'),
    })
    expect(evaluateRule(latency, ctx(11)).outcome).toBe('healthy') // 11 < 8 × 1.5
    expect(evaluateRule(latency, ctx(13)).outcome).toBe('breached') // the package's 100 ms would have let it pass
  })
})
