import { Queue, Worker, type Job } from 'bullmq'
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import * as z from 'zod'
import type { FleetEventBody } from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'
import { TERMINAL_STATES, type Rollout } from '../rollout/types.js'
import type { Signal } from '../rollout/observations.js'
import { LOWER_IS_WORSE, type WindowMetric } from '../telemetry/window-stats.js'
import type { RuleResult } from './evaluate.js'
import { evaluateRollout, type Evaluation, type GatherDeps } from './gather.js'
import type { RulesStore } from './rules-store.js'
import type { EventSink } from './sinks.js'

export const RULES_QUEUE = 'rules'
const JobDataSchema = z.object({ rolloutId: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/) })

export interface RulesEngineOptions extends GatherDeps {
  connection: Redis
  bullPrefix: string
  store: RulesStore
  sink: EventSink
  clock: Clock
  logger: Logger
  /** How often each active rollout is evaluated. */
  evalMs: number
  /** Report without acting, for every rollout. */
  dryRun: boolean
  /** Ask the rollout engine to tick soon (it reads the signal). */
  nudge: (rolloutId: string) => Promise<void>
  /** After each alert or decision taken (metrics). */
  onDecision?: (action: string) => void
  /** After each evaluation (metrics). */
  onEvaluated?: (rolloutId: string, e: Evaluation) => void
}

const ACTING_STATES: ReadonlySet<string> = new Set(['created', 'running', 'paused', 'staged', 'switching'])

function evidence(res: RuleResult, devices = res.devices): NonNullable<FleetEventBody['evidence']> {
  return {
    rule: res.rule,
    metric: res.metric,
    comparison: res.comparison,
    windowMs: res.windowMs,
    windowStart: res.windowStart,
    sampleSize: res.sampleSize,
    observed: res.observed,
    threshold: res.threshold,
    baseline: res.baseline,
    devices: devices.slice(0, 1000),
    ...(res.approximate ? { approximate: true } : {}),
    ...(res.hardware === null ? {} : { hardware: res.hardware }),
    ...(res.graced.length === 0 ? {} : { graced: res.graced.slice(0, 1000) }),
    ...(res.graceMs === null ? {} : { graceMs: res.graceMs }),
  }
}

/** How the observed value broke its limit: above it, or below it (accuracy). */
function cmp(res: RuleResult): string {
  return LOWER_IS_WORSE.has(res.metric as WindowMetric) ? '<' : '>'
}

/** A rule judged per hardware class is its own alert or pause, class by class. */
function ruleKey(res: RuleResult): string {
  return res.hardware === null ? res.rule : `${res.rule}:${res.hardware}`
}

/** `latency [x86-edge, default budgets]`: the rule and what it judged. */
function ruleName(res: RuleResult): string {
  if (res.hardware === null) return res.rule
  const budgets = res.budgetClass === res.hardware ? 'its budgets' : `${res.budgetClass ?? 'default'} budgets`
  return `${res.rule} [${res.hardware}, ${budgets}]`
}

function fmt(v: number | null): string {
  return v === null ? 'n/a' : Number.isInteger(v) ? String(v) : v.toPrecision(3)
}

/** Why a decision was taken, for the rollout's reason and the devices it sends back. */
function reasonOf(res: RuleResult): string {
  return `rule ${ruleName(res)}: ${res.metric} ${fmt(res.observed)} ${cmp(res)} ${fmt(res.threshold)}`
}

/**
 * Evaluates every active rollout's rules on BullMQ: one job scheduler (`rules-sweep`, shared by
 * all replicas) enqueues one `evaluate` job per active rollout per interval with a deterministic
 * id, so replicas share the work and a restart resumes it. Decisions are taken once (a Redis
 * SET NX in the same script as the audit record and the engine signal).
 */
export class RulesEngine {
  private readonly queue: Queue
  private readonly worker: Worker
  private closed = false

  private readonly o: RulesEngineOptions

  constructor(o: RulesEngineOptions) {
    this.o = o
    const common = { connection: o.connection, prefix: o.bullPrefix }
    this.queue = new Queue(RULES_QUEUE, { ...common, defaultJobOptions: { removeOnComplete: 100, removeOnFail: 100 } })
    this.worker = new Worker(RULES_QUEUE, (job: Job) => this.process(job), { ...common, concurrency: 4, autorun: false })
    this.worker.on('error', (err) => {
      o.logger.warn({ err }, 'rules worker error')
    })
  }

  async start(): Promise<void> {
    await this.queue.waitUntilReady()
    await this.queue.upsertJobScheduler(
      'rules-sweep',
      { every: this.o.evalMs },
      { name: 'sweep', data: {}, opts: { removeOnComplete: 10, removeOnFail: 10 } },
    )
    void this.worker.run().catch((err: unknown) => {
      this.o.logger.error({ err }, 'rules worker stopped')
    })
    await this.worker.waitUntilReady()
  }

  /** The verdicts the rollout engine acts on (the `signals` seam of `step`). */
  async signals(r: Rollout): Promise<Signal[]> {
    const [signals, failed, classes] = await Promise.all([
      this.o.store.signals(r.id, r.revision),
      this.o.store.failed(r.id),
      this.o.store.classes(r.id),
    ])
    const devices: Signal[] =
      failed.length === 0 ? [] : [{ action: 'revert-devices', deviceIds: failed, reason: 'crashed or unresponsive' }]
    return [...signals, ...classes, ...devices]
  }

  private async process(job: Job): Promise<void> {
    if (job.name === 'sweep') {
      const slot = Math.floor(this.o.clock.now() / this.o.evalMs)
      const ids = await this.o.repo.activeIds()
      if (ids.length > 0) {
        await this.queue.addBulk(
          ids.map((rolloutId) => ({
            name: 'evaluate',
            data: { rolloutId },
            opts: { jobId: `eval-${rolloutId}-${slot}`, removeOnComplete: true, removeOnFail: true },
          })),
        )
      }
      return
    }
    const data = JobDataSchema.safeParse(job.data)
    if (!data.success) {
      this.o.logger.warn({ jobId: job.id }, 'invalid rules job data')
      return
    }
    await this.evaluate(data.data.rolloutId)
  }

  /** Evaluate one rollout now and act on it (exported for tests and the API). */
  async evaluate(rolloutId: string): Promise<Evaluation | null> {
    const r = await this.o.repo.find(rolloutId)
    if (r === null || r.kind !== 'deploy' || TERMINAL_STATES.has(r.state)) return null
    const set = await this.o.store.get(r.id)
    const now = this.o.clock.now()
    const e = await evaluateRollout(this.o, r, set.rules, now, set.budgets)
    const dryRun = set.dryRun || this.o.dryRun
    await this.o.store.saveStates(r.id, { at: now, dryRun, candidate: e.candidate, baseline: e.baseline, results: e.results })
    this.o.onEvaluated?.(r.id, e)
    if (ACTING_STATES.has(r.state)) await this.act(r, e, dryRun)
    return e
  }

  private event(
    r: Rollout,
    res: RuleResult,
    kind: 'alert' | 'decision',
    action: FleetEventBody['action'],
    dryRun: boolean,
    devices?: string[],
  ): FleetEventBody {
    const what = kind === 'alert' ? 'alert' : dryRun ? 'would' : 'decision'
    const message = `${what}: rule ${ruleName(res)} (${res.metric} ${fmt(res.observed)} ${cmp(res)} ${fmt(res.threshold)}${res.baseline === null ? '' : `, baseline ${fmt(res.baseline)}`}, ${res.sampleSize} samples${res.approximate ? ', approximate' : ''}${res.graced.length > 0 ? `, ${res.graced.length} in their switch grace` : ''})${kind === 'decision' ? ` → ${action ?? 'none'}` : ''}`
    return {
      event: kind,
      rolloutId: r.id,
      state: r.state,
      action,
      severity: kind === 'alert' ? (r.state === 'running' ? 'warning' : 'info') : 'critical',
      message: message.slice(0, 2048),
      model: { name: r.model.name, version: r.model.version },
      evidence: evidence(res, devices),
      ...(dryRun ? { dryRun: true } : {}),
    }
  }

  /** Take a decision once; forward its event when this call took it. */
  private async once(r: Rollout, what: string, body: FleetEventBody, signal: Signal | null): Promise<boolean> {
    if (!(await this.o.store.decide(r.id, what, body, signal))) return false
    this.o.onDecision?.(body.action ?? 'none')
    await this.o.sink.forward(body)
    if (signal !== null) await this.o.nudge(r.id)
    return true
  }

  private async act(r: Rollout, e: Evaluation, dryRun: boolean): Promise<void> {
    const dry = dryRun ? 'dry:' : ''
    for (const res of e.results) {
      if (res.action === 'alert') {
        if (res.firing) await this.once(r, `alert:${ruleKey(res)}`, this.event(r, res, 'alert', 'alert', dryRun), null)
        else if (res.outcome === 'healthy') await this.o.store.rearm(r.id, `alert:${ruleKey(res)}`)
        continue
      }
      if (!res.firing) continue
      if (res.action === 'rollback-device') await this.rollbackDevices(r, e, res, dryRun)
      else if (res.action === 'rollback-rollout' && res.hardware !== null && e.classes.length > 1)
        await this.rollbackClass(r, e, res, res.hardware, dryRun)
      else {
        const action = res.action === 'pause' ? 'pause' : 'rollback'
        const signal: Signal | null = dryRun ? null : { action, reason: reasonOf(res) }
        const what = action === 'pause' ? `${dry}pause:${ruleKey(res)}` : `${dry}rollback`
        await this.once(r, what, this.event(r, res, 'decision', res.action, dryRun), signal)
      }
    }
  }

  /**
   * A rollback rule judged for one hardware class of a mixed rollout broke: that class is sent back
   * and gets no more of the release, the others keep it and the rollout goes on for them. When
   * every class of the rollout has broken, the whole rollout is rolled back.
   */
  private async rollbackClass(r: Rollout, e: Evaluation, res: RuleResult, hardware: string, dryRun: boolean): Promise<void> {
    const dry = dryRun ? 'dry:' : ''
    const out = new Set((await this.o.store.classes(r.id)).map((c) => c.hardware))
    if (e.classes.every((hw) => hw === hardware || out.has(hw))) {
      const signal: Signal | null = dryRun
        ? null
        : { action: 'rollback', reason: `${reasonOf(res)}; every hardware class of the rollout broke` }
      await this.once(r, `${dry}rollback`, this.event(r, res, 'decision', 'rollback-rollout', dryRun), signal)
      return
    }
    const reason = `${reasonOf(res)}; ${hardware} taken out of the rollout`
    const signal: Signal | null = dryRun ? null : { action: 'revert-class', hardware, reason }
    await this.once(r, `${dry}rollback-class:${hardware}`, this.event(r, res, 'decision', 'rollback-class', dryRun), signal)
  }

  /** Roll the tipped devices back, each once, and judge the rollout's failure threshold. */
  private async rollbackDevices(r: Rollout, e: Evaluation, res: RuleResult, dryRun: boolean): Promise<void> {
    const dry = dryRun ? 'dry:' : ''
    const fresh: string[] = []
    for (const id of res.devices) {
      const body = this.event(r, res, 'decision', 'rollback-device', dryRun, [id])
      if (!(await this.o.store.decide(r.id, `${dry}device:${id}`, body, null))) continue
      fresh.push(id)
      this.o.onDecision?.('rollback-device')
      await this.o.sink.forward(body)
    }
    if (fresh.length === 0 || dryRun) return
    // The rollout engine reads the failed set as a revert signal: each device gets a new desired
    // state with its previous model (retained: an offline device converges when it returns).
    const failed = await this.o.store.markFailed(r.id, fresh)
    await this.o.nudge(r.id)
    const size = Math.max(1, e.cohort.length)
    if (failed / size <= r.gate.failureThreshold || failed < Math.min(r.gate.minSamples, size)) return
    const all = await this.o.store.failed(r.id)
    const total: RuleResult = {
      ...res,
      rule: 'failure-threshold',
      observed: failed / size,
      threshold: r.gate.failureThreshold,
      sampleSize: size,
      devices: all,
    }
    const reason = `${failed} of ${size} devices crashed or unresponsive, over the ${Math.round(r.gate.failureThreshold * 100)}% failure threshold`
    await this.once(r, 'rollback', this.event(r, total, 'decision', 'rollback-rollout', false), { action: 'rollback', reason })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.worker.close()
    await this.queue.close()
  }
}
