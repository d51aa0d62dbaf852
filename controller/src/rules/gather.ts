import type { LiveStore } from '../registry/live.js'
import type { RolloutRepo } from '../rollout/repo.js'
import type { Rollout } from '../rollout/types.js'
import type { DeviceShare, WindowStore } from '../telemetry/window-store.js'
import { evaluateDeviceRule, evaluateRule, limitOf, tippingDevices, type DeviceFacts, type RuleResult } from './evaluate.js'
import { isDeviceRule, type Rule } from './rule.js'
import { SHARE_KEYS, narrowStats } from '../telemetry/window-stats.js'

export interface GatherDeps {
  repo: RolloutRepo
  live: LiveStore
  windows: WindowStore
  /**
   * When this controller began to listen. Silence is only measured from then on: telemetry
   * that arrived while no controller listened (a restart) was never recorded, and a device must
   * not be judged unresponsive for the controller's own outage.
   */
  listeningSince?: number
}

export interface Evaluation {
  candidate: string
  baseline: string | null
  /** Devices sent the rollout's model (the candidate cohort). */
  cohort: string[]
  results: RuleResult[]
}

function modelKey(m: { name: string; version: string }): string {
  return `${m.name}@${m.version}`
}

/** The baseline cohort: the model most of the rollout's devices ran before it. */
function baselineOf(r: Rollout, froms: readonly ({ name: string; version: string } | null)[]): string | null {
  const counts = new Map<string, number>()
  for (const f of froms) if (f !== null && modelKey(f) !== modelKey(r.model)) counts.set(modelKey(f), (counts.get(modelKey(f)) ?? 0) + 1)
  let best: string | null = null
  for (const [k, n] of counts) if (best === null || n > (counts.get(best) ?? 0)) best = k
  return best
}

function spanOf(rules: readonly Rule[], bucketMs: number): number {
  let span = bucketMs
  for (const r of rules) {
    if (isDeviceRule(r)) continue
    span = Math.max(span, Math.ceil(r.windowMs / bucketMs) * bucketMs + Math.ceil(r.sustainedMs / bucketMs) * bucketMs)
  }
  return span
}

/** The last telemetry time, but never earlier than when this controller started to listen. */
function lastHeard(lastTelemetryAt: number | null, listeningSince: number): number | null {
  return lastTelemetryAt === null ? null : Math.max(lastTelemetryAt, listeningSince)
}

async function deviceFacts(d: GatherDeps, cohort: readonly [string, number][]): Promise<DeviceFacts[]> {
  const ids = cohort.map(([id]) => id)
  const [views, crashes, offline] = await Promise.all([d.live.views(ids), d.windows.crashes(ids), d.windows.offlineSince(ids)])
  return cohort.map(([id, at], i) => ({
    id,
    dispatchedAt: at,
    online: views[i]?.status?.online ?? null,
    // A Last Will carries its connect time: when it was received is what counts.
    statusAt: offline[i] ?? views[i]?.status?.ts ?? null,
    lastTelemetryAt: lastHeard(views[i]?.lastTelemetryAt ?? null, d.listeningSince ?? 0),
    telemetryWindowMs: views[i]?.telemetryWindowMs ?? null,
    lastCrashAt: crashes[i] ?? null,
  }))
}

/** Each device's shares summed over the buckets from `fromBucket` to `toBucket`. */
function sumShares(byBucket: ReadonlyMap<number, readonly DeviceShare[]>, fromBucket: number, toBucket: number): DeviceShare[] {
  const out = new Map<string, DeviceShare>()
  for (const [bucket, shares] of byBucket) {
    if (bucket < fromBucket || bucket > toBucket) continue
    for (const s of shares) {
      const d = out.get(s.deviceId)
      if (d === undefined) out.set(s.deviceId, { ...s })
      else for (const k of SHARE_KEYS) d[k] += s[k]
    }
  }
  return [...out.values()]
}

/** Read the windows and device facts a rollout's rules need, and judge every rule (pure judgement). */
export async function evaluateRollout(d: GatherDeps, r: Rollout, rules: readonly Rule[], now: number): Promise<Evaluation> {
  const progress = await d.repo.progress(r.id)
  const entries = [...progress].filter(([, p]) => p.to.sha256 === r.model.sha256)
  const cohort = entries.map(([id, p]) => [id, p.at] as [string, number])
  const candidate = modelKey(r.model)
  const baseline = baselineOf(
    r,
    entries.map(([, p]) => p.from),
  )
  const B = d.windows.bucketMs
  const to = d.windows.bucketOf(now)
  // Windows are kept per model version: a bucket that began before this rollout sent its first
  // device the model may hold another rollout's telemetry of the same version (e.g. one rolled
  // back a moment ago). Judge the rollout only on buckets it owns from their start.
  const firstDispatch = cohort.reduce((min, [, at]) => Math.min(min, at), Infinity)
  const owned = firstDispatch === Infinity ? to + B : Math.ceil(firstDispatch / B) * B
  const from = Math.max(d.windows.bucketOf(now - spanOf(rules, B) - B), owned)
  const needBaseline = baseline !== null && rules.some((x) => x.comparison === 'baseline')
  const members = cohort.map(([id]) => id)
  const [all, own, base, facts] = await Promise.all([
    d.windows.series(candidate, from, to),
    d.windows.sharesOf(candidate, from, to, members),
    needBaseline ? d.windows.series(baseline, from, to) : Promise.resolve(null),
    rules.some(isDeviceRule) ? deviceFacts(d, cohort) : Promise.resolve([]),
  ])
  // The version's windows narrowed to this rollout's devices: others running the same version
  // (another rollout, a device deployed by hand) neither trip nor dilute this rollout's rules.
  const cand = all.map((b) => ({ bucket: b.bucket, stats: narrowStats(b.stats, own.get(b.bucket) ?? []) }))
  const ctx = {
    now,
    bucketMs: B,
    candidate: cand,
    baseline: base,
    budgets: { latencyThresholdMs: r.policy.latencyThresholdMs, energyBudgetMw: r.policy.energyBudgetMw },
  }
  const results: RuleResult[] = []
  for (const rule of rules) {
    if (isDeviceRule(rule)) {
      results.push(evaluateDeviceRule(rule, facts, now))
      continue
    }
    const res = evaluateRule(rule, ctx)
    if (res.outcome === 'breached' && res.threshold !== null) {
      const shares = sumShares(own, res.windowStart, res.windowStart + res.windowMs - B)
      res.devices = tippingDevices(rule.metric, shares, limitOf(rule, ctx.budgets, res.baseline) ?? res.threshold)
    }
    results.push(res)
  }
  return { candidate, baseline, cohort: cohort.map(([id]) => id), results }
}
