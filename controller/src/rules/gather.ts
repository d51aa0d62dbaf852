import type { LiveStore } from '../registry/live.js'
import { UNKNOWN_CLASS } from '../rollout/observations.js'
import type { RolloutRepo } from '../rollout/repo.js'
import type { Rollout } from '../rollout/types.js'
import { budgetFor, mergeClassBudgets, type ClassBudgets } from '@liquid-edge/protocol'
import type { LiveView } from '../registry/live.js'
import { silenceClock, type ListeningClock } from '../telemetry/listening.js'
import type { BucketStats, DeviceShare, WindowStore } from '../telemetry/window-store.js'
import { SHARE_KEYS, mergeStats, narrowStats } from '../telemetry/window-stats.js'
import { evaluateDeviceRule, type DeviceFacts } from './device-rules.js'
import { evaluateRule, limitOf, tippingDevices, type Bucket, type RuleResult } from './evaluate.js'
import { isDeviceRule, type Rule } from './rule.js'

export interface GatherDeps {
  repo: RolloutRepo
  live: LiveStore
  windows: WindowStore
  /**
   * Whether and since when the fleet's telemetry has been listened to without a break: silence is
   * only measured inside that span (see {@link ListeningClock}). Without it, always.
   */
  listening?: ListeningClock
  /**
   * How long after the listening span began a device that lost the broker too may take to come back
   * (the agents' longest reconnect back-off): no silence or offline status counts before it, unless
   * the device reconnected sooner. @defaultValue 0
   */
  reconnectGraceMs?: number
}

export interface Evaluation {
  candidate: string
  baseline: string | null
  /** Devices sent the rollout's model (the candidate cohort). */
  cohort: string[]
  /** The hardware classes of those devices, sorted (budget rules are judged for each). */
  classes: string[]
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

function deviceFacts(d: GatherDeps, cohort: readonly [string, number][], views: readonly (LiveView | undefined)[], listeningSince: number) {
  const ids = cohort.map(([id]) => id)
  return Promise.all([d.windows.crashes(ids), d.windows.offlineSince(ids)]).then(([crashes, offline]) =>
    cohort.map(([id, at], i): DeviceFacts => ({
      id,
      dispatchedAt: at,
      online: views[i]?.status?.online ?? null,
      // A Last Will carries its connect time: when it was received is what counts.
      statusAt: offline[i] ?? views[i]?.status?.ts ?? null,
      connectedAt: views[i]?.status?.online === true ? views[i].status.ts : null,
      lastTelemetryAt: views[i]?.lastTelemetryAt ?? null,
      listeningSince,
      heardAt: views[i]?.lastHeardAt ?? null,
      telemetryWindowMs: views[i]?.telemetryWindowMs ?? null,
      lastCrashAt: crashes[i] ?? null,
    })),
  )
}

/**
 * The version's windows of one hardware class narrowed to the rollout's devices of that class:
 * counts and sums from their shares, the histogram from the class's own buckets. `null` class:
 * every class, merged.
 */
function narrowed(
  byClass: ReadonlyMap<string, readonly BucketStats[]>,
  own: ReadonlyMap<number, readonly DeviceShare[]>,
  members: ReadonlySet<string>,
  hardware: string | null,
): Bucket[] {
  const lists = hardware === null ? [...byClass.values()] : [byClass.get(hardware) ?? []]
  const buckets = new Map<number, BucketStats['stats'][]>()
  for (const list of lists) for (const b of list) buckets.set(b.bucket, [...(buckets.get(b.bucket) ?? []), b.stats])
  for (const bucket of own.keys()) if (!buckets.has(bucket)) buckets.set(bucket, [])
  return [...buckets].map(([bucket, parts]) => ({
    bucket,
    stats: narrowStats(
      mergeStats(parts),
      (own.get(bucket) ?? []).filter((x) => members.has(x.deviceId)),
    ),
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

/** Group the cohort's devices by the hardware class they report. */
function classesOf(ids: readonly string[], views: readonly (LiveView | undefined)[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  ids.forEach((id, i) => {
    const hw = views[i]?.reported?.hardware ?? UNKNOWN_CLASS
    out.set(hw, (out.get(hw) ?? new Set()).add(id))
  })
  return out
}

/** Judge one windowed rule; name the devices that tipped it when it is breached. */
function judge(
  rule: Rule,
  ctx: Parameters<typeof evaluateRule>[1],
  own: ReadonlyMap<number, readonly DeviceShare[]>,
  members: ReadonlySet<string>,
): RuleResult {
  const res = evaluateRule(rule, ctx)
  if (res.outcome === 'breached' && res.threshold !== null) {
    const shares = sumShares(own, res.windowStart, res.windowStart + res.windowMs - ctx.bucketMs).filter((x) => members.has(x.deviceId))
    res.devices = tippingDevices(rule.metric, shares, limitOf(rule, ctx.budgets, res.baseline) ?? res.threshold)
  }
  return res
}

/**
 * Read the windows and device facts a rollout's rules need, and judge every rule (pure judgement).
 * Budget rules are judged per hardware class, each class against its own budgets; the others over
 * the whole cohort.
 */
export async function evaluateRollout(
  d: GatherDeps,
  r: Rollout,
  rules: readonly Rule[],
  now: number,
  ruleBudgets?: ClassBudgets,
): Promise<Evaluation> {
  // Monitoring thresholds (a recorded baseline) replace the policy's budgets, class by class, for the rules only.
  const policy = ruleBudgets === undefined ? r.policy : { ...r.policy, budgets: mergeClassBudgets(r.policy.budgets, ruleBudgets) }
  const progress = await d.repo.progress(r.id)
  const entries = [...progress].filter(([, p]) => p.to?.sha256 === r.model.sha256)
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
  const ids = cohort.map(([id]) => id)
  const [byClass, own, base, views] = await Promise.all([
    d.windows.seriesByClass(candidate, from, to),
    d.windows.sharesOf(candidate, from, to, ids),
    needBaseline ? d.windows.series(baseline, from, to) : Promise.resolve(null),
    d.live.views(ids),
  ])
  // Device rules judge silence on the listener's clock: a controller that heard nothing did not hear devices fall silent.
  const heard = d.listening === undefined ? { now, since: 0 } : silenceClock(await d.listening.read(), now, d.listening.beatMs)
  const facts = rules.some(isDeviceRule) ? await deviceFacts(d, cohort, views, heard.since) : []
  const everyone = new Set(ids)
  const classes = classesOf(ids, views)
  const base0 = { now, bucketMs: B, baseline: base }
  // The version's windows narrowed to this rollout's devices: others running the same version
  // (another rollout, a device deployed by hand) neither trip nor dilute this rollout's rules.
  const whole = { ...base0, candidate: narrowed(byClass, own, everyone, null), budgets: budgetFor(policy, null) }
  const perClass = [...classes]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([hw, members]) => ({ hw, members, candidate: narrowed(byClass, own, members, hw), budgets: budgetFor(policy, hw) }))
  const results: RuleResult[] = []
  for (const rule of rules) {
    if (isDeviceRule(rule)) {
      results.push(evaluateDeviceRule(rule, facts, heard.now, r.policy.switchGraceMs ?? r.policy.trialMs, d.reconnectGraceMs ?? 0))
      continue
    }
    if (rule.comparison !== 'budget') {
      results.push(judge(rule, whole, own, everyone))
      continue
    }
    for (const c of perClass)
      results.push({ ...judge(rule, { ...base0, candidate: c.candidate, budgets: c.budgets }, own, c.members), hardware: c.hw })
  }
  return { candidate, baseline, cohort: ids, classes: perClass.map((c) => c.hw), results }
}
