import { randomUUID } from 'node:crypto'
import * as z from 'zod'
import { FleetError, PolicySchema, mergeClassBudgets, type FleetEventBody } from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'
import type { MqttLink } from '../mqtt/link.js'
import type { ModelStore } from '../models/model-store.js'
import type { LiveStore } from '../registry/live.js'
import type { Registry } from '../registry/registry.js'
import type { RolloutEngine } from './engine.js'
import type { StepSpec } from './membership.js'
import { DeployRequestSchema, RollbackRequestSchema, SwitchRequestSchema, type DeployRequest, type RollbackRequest } from './requests.js'
import type { RolloutRepo } from './repo.js'
import { planRollback } from './rollback-plan.js'
import { rollbackIssued } from './accounting.js'
import { SUPERSEDED, TERMINAL_STATES, ZERO_COUNTS, type Rollout, type RolloutState } from './types.js'

export interface RolloutServiceDeps {
  repo: RolloutRepo
  registry: Registry
  live: LiveStore
  models: ModelStore
  link: MqttLink
  clock: Clock
  engine: () => RolloutEngine
  /** Trial of a deploy whose request sets none. @defaultValue the policy's own (60 s) */
  defaultTrialMs?: number
}

function invalid(err: z.ZodError): FleetError {
  return new FleetError('API_INVALID_REQUEST', z.prettifyError(err), {
    details: { issues: err.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
  })
}

export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input)
  if (!r.success) throw invalid(r.error)
  return r.data
}

function stepsFor(req: z.output<typeof DeployRequestSchema>, targetCount: number): StepSpec[] {
  if (req.strategy === 'all' || req.strategy === 'blue-green') return req.steps ?? [{ percent: 100 }]
  const rest: StepSpec[] =
    req.steps ?? (req.batchSize === undefined ? [{ percent: 25 }, { percent: 100 }] : batches(req.batchSize, targetCount))
  if (req.strategy !== 'canary') return rest
  const first: StepSpec = req.canary === undefined ? { count: req.canaryCount ?? 1 } : { devices: req.canary }
  return [first, ...(req.steps ?? [{ percent: 100 }])]
}

function batches(size: number, total: number): StepSpec[] {
  const out: StepSpec[] = []
  for (let n = size; n < total && out.length < 99; n += size) out.push({ count: n })
  return [...out, { percent: 100 }]
}

/**
 * Devices of a deploy downloading at once unless the request says otherwise: what one artifact
 * server and one broker's in-flight window serve without timeouts (5,000 at once timed out at the
 * agents' 15 s limit and hit the open-file limit at 10,000).
 */
export const DEFAULT_MAX_IN_FLIGHT = 1000

/** Operator actions on rollouts: deploy, pause/resume/abort, switch, rollback. */
export class RolloutService {
  constructor(private readonly d: RolloutServiceDeps) {}

  private async conflicts(ids: readonly string[], except: string | null): Promise<string[]> {
    const [locks, active] = await Promise.all([this.d.repo.locks(ids), this.d.repo.activeIds()])
    const activeSet = new Set(active)
    return [...new Set(locks.filter((l): l is string => l !== null && l !== except && activeSet.has(l)))]
  }

  private async supersede(ids: readonly string[], by: string, state: RolloutState): Promise<void> {
    for (const id of ids) {
      await this.d.repo.update(
        id,
        (r) => {
          if (TERMINAL_STATES.has(r.state)) return { next: r, events: [] }
          const reason = `${SUPERSEDED}${by}`
          return {
            next: { ...r, state, reason },
            events: [this.event(r, state === 'aborted' ? 'rollout-aborted' : 'rollout-rolled-back', reason, state)],
          }
        },
        this.d.clock.now(),
      )
      await this.d.engine().nudge(id)
    }
  }

  private event(r: Rollout, event: FleetEventBody['event'], message: string, state: string = r.state): FleetEventBody {
    return { event, rolloutId: r.id, state, severity: 'info', message, model: { name: r.model.name, version: r.model.version } }
  }

  /** @throws {FleetError} `API_INVALID_REQUEST`, `MODEL_NOT_FOUND`, `ROLLOUT_NO_DEVICES`, `ROLLOUT_CONFLICT`, `REGISTRY_INVALID_SELECTOR` */
  async deploy(input: DeployRequest): Promise<Rollout> {
    const parsed = parseOrThrow(DeployRequestSchema, input)
    const record = await this.d.models.get(parsed.model.name, parsed.model.version)
    // The fallback is a way back: it must be in the store now (and the store keeps it while needed).
    const fallback = parsed.policy?.fallback
    if (fallback != null) await this.d.models.get(fallback.name, fallback.version)
    const { target, devices } = await this.d.registry.resolve(parsed.target)
    if (devices.length === 0) throw new FleetError('ROLLOUT_NO_DEVICES', `the target '${parsed.target}' selects no registered devices`)
    // A blue-green colour (a group with a colour) stages the model under the colour's name.
    const colour = target.group?.colour == null ? undefined : target.group
    const req = {
      ...parsed,
      strategy: parsed.strategy ?? (colour === undefined ? 'rolling' : 'blue-green'),
      name: parsed.name ?? colour?.name,
    }
    const ids = devices.map((x) => x.id)
    const conflicting = await this.conflicts(ids, null)
    const extended =
      conflicting.length === 1 && !req.supersede ? await this.extend(conflicting[0] ?? '', req, target.selector, target.deviceId) : null
    if (extended !== null) return extended
    if (conflicting.length > 0 && !req.supersede) {
      throw new FleetError(
        'ROLLOUT_CONFLICT',
        `rollouts ${conflicting.join(', ')} are active on some of these devices; pass supersede to replace them`,
        { details: { rollouts: conflicting } },
      )
    }
    const now = this.d.clock.now()
    const id = `r-${randomUUID().slice(0, 13)}`
    const m = record.manifest
    const policy = PolicySchema.parse({
      latencyThresholdMs: m.latencyThresholdMs,
      energyBudgetMw: m.energyBudgetMw,
      memoryBudgetBytes: m.memoryBudgetBytes,
      minAccuracy: m.evaluation?.minAccuracy ?? null,
      optional: m.optional,
      ...(this.d.defaultTrialMs === undefined ? {} : { trialMs: this.d.defaultTrialMs }),
      ...req.policy,
      budgets: mergeClassBudgets(m.budgets, req.policy?.budgets),
    })
    const r: Rollout = {
      id,
      name: req.name ?? null,
      kind: 'deploy',
      revision: 1,
      createdAt: now,
      updatedAt: now,
      state: 'created',
      reason: null,
      target: target.deviceId === null ? target.selector : null,
      devices: target.deviceId === null ? null : [target.deviceId],
      model: this.d.models.ref(record),
      policy,
      mode: req.strategy === 'blue-green' ? 'stage' : 'activate',
      strategy: req.strategy,
      steps: stepsFor(req, ids.length),
      stratifyBy: req.stratifyBy ?? null,
      salt: req.salt ?? `${record.name}@${record.version}`,
      bakeMs: req.bakeMs,
      stepDeadlineMs: req.stepDeadlineMs,
      gate: req.gate,
      rateLimitPerMin: req.rateLimitPerMin ?? null,
      maxInFlight: req.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
      step: 0,
      stepStartedAt: null,
      bakeUntil: null,
      tokens: Math.max(1, (req.rateLimitPerMin ?? 6) / 6),
      tokensAt: now,
      switchRequestedAt: null,
      supersedes: conflicting,
      rollbackOf: null,
      counts: { ...ZERO_COUNTS, targeted: ids.length },
      finalized: false,
      pendingRollback: false,
      acceptedFailures: 0,
      rolledBackBy: null,
    }
    // Created first, so the rollouts it replaces find their devices locked by it when they stop.
    await this.start(r, ids)
    await this.supersede(conflicting, id, 'aborted')
    return r
  }

  /**
   * The same model to the same target as an active rolling rollout, with larger steps: the running
   * rollout goes on to them (25% then 100% is one rollout, promoted), instead of a conflict.
   */
  private async extend(
    id: string,
    req: { model: { name: string; version: string }; strategy: string; steps?: StepSpec[] | undefined },
    selector: string,
    deviceId: string | null,
  ): Promise<Rollout | null> {
    const cur = await this.d.repo.find(id)
    const percents = (steps: readonly StepSpec[]): number[] => steps.map((s) => ('percent' in s ? s.percent : Number.NaN))
    const wanted = percents(req.steps ?? [{ percent: 100 }])
    if (
      cur === null ||
      cur.kind !== 'deploy' ||
      cur.mode !== 'activate' ||
      !['created', 'running', 'paused'].includes(cur.state) ||
      cur.model.name !== req.model.name ||
      cur.model.version !== req.model.version ||
      (deviceId === null ? cur.target !== selector : cur.devices?.join(',') !== deviceId) ||
      wanted.some((p) => Number.isNaN(p)) ||
      percents(cur.steps).some((p) => Number.isNaN(p))
    )
      return null
    const reached = Math.max(...percents(cur.steps.slice(0, cur.step + 1)))
    const more = wanted.filter((p) => p > reached)
    if (more.length === 0) return cur
    const steps = [...cur.steps.slice(0, cur.step + 1), ...more.map((percent) => ({ percent }))]
    const message = `extended to ${more.join('%, ')}%: the same model and target were deployed again`
    const r = await this.d.repo.update(
      id,
      (now) => ({ next: { ...now, steps }, events: [this.event(now, 'rollout-promoted', message)] }),
      this.d.clock.now(),
    )
    await this.d.link.publishFleetEvent(this.event(r, 'rollout-promoted', message)).catch(() => undefined)
    await this.d.engine().nudge(id)
    return r
  }

  private async start(r: Rollout, ids: readonly string[]): Promise<void> {
    await this.d.repo.create(r, ids)
    await this.d.link
      .publishFleetEvent(
        this.event(r, 'rollout-created', `${r.kind} of ${r.model.name}@${r.model.version} to ${ids.length} devices (${r.strategy})`),
      )
      .catch(() => undefined)
    await this.d.engine().schedule(r.id)
    await this.d.engine().nudge(r.id)
  }

  private async transition(
    id: string,
    from: readonly RolloutState[],
    to: RolloutState,
    event: FleetEventBody['event'],
    extra: Partial<Rollout> = {},
  ): Promise<Rollout> {
    const r = await this.d.repo.update(
      id,
      (cur) => {
        if (!from.includes(cur.state))
          throw new FleetError('ROLLOUT_INVALID_TRANSITION', `rollout ${id} is ${cur.state}; it cannot become ${to}`)
        return { next: { ...cur, ...extra, state: to }, events: [this.event(cur, event, `rollout ${to}`, to)] }
      },
      this.d.clock.now(),
    )
    await this.d.link.publishFleetEvent(this.event(r, event, `rollout ${to}`)).catch(() => undefined)
    await this.d.engine().nudge(id)
    return r
  }

  pause(id: string): Promise<Rollout> {
    return this.transition(id, ['created', 'running'], 'paused', 'rollout-paused', { reason: 'paused by an operator' })
  }
  /** Resume a paused rollout; the failures seen so far are accepted, the gate judges new ones. */
  async resume(id: string): Promise<Rollout> {
    const cur = await this.d.repo.get(id)
    const r = await this.transition(id, ['paused'], 'running', 'rollout-resumed', {
      reason: null,
      bakeUntil: null,
      acceptedFailures: cur.counts.failed + cur.counts.silent,
    })
    // Paused, it had no periodic tick.
    await this.d.engine().schedule(id)
    return r
  }
  /**
   * Skip the bake of the current step: it completes as soon as its devices have answered, and the
   * next step starts. The health gates still judge it. @throws {FleetError} `ROLLOUT_NOT_FOUND`, `ROLLOUT_INVALID_TRANSITION`
   */
  async promote(id: string): Promise<Rollout> {
    const now = this.d.clock.now()
    let message = ''
    const r = await this.d.repo.update(
      id,
      (cur) => {
        if (cur.state !== 'running' || cur.bakeMs === 0)
          throw new FleetError(
            'ROLLOUT_INVALID_TRANSITION',
            `rollout ${id} is ${cur.state}${cur.state === 'running' ? ' without a bake time' : ''}; only a running rollout's bake can be skipped`,
          )
        message = `promoted by an operator: the bake of step ${cur.step} ends now`
        return { next: { ...cur, bakeUntil: now }, events: [this.event(cur, 'rollout-promoted', message)] }
      },
      now,
    )
    await this.d.link.publishFleetEvent(this.event(r, 'rollout-promoted', message)).catch(() => undefined)
    await this.d.engine().nudge(id)
    return r
  }
  abort(id: string): Promise<Rollout> {
    return this.transition(id, ['created', 'running', 'paused', 'staged', 'switching'], 'aborted', 'rollout-aborted', {
      reason: 'aborted by an operator',
      finalized: false,
    })
  }

  /** Blue-green: make the staged candidate active. @throws {FleetError} `ROLLOUT_NOT_FOUND`, `ROLLOUT_INVALID_TRANSITION` */
  async switch(input: unknown): Promise<Rollout> {
    const req = parseOrThrow(SwitchRequestSchema, input)
    let id = req.rolloutId
    if (id === undefined) {
      const staged = (await this.d.repo.list(1000)).find(
        (r) => r.state === 'staged' && (r.name === req.to || `${r.model.name}@${r.model.version}` === req.to),
      )
      if (staged === undefined) throw new FleetError('ROLLOUT_NOT_FOUND', `no staged blue-green rollout named '${req.to ?? ''}'`)
      id = staged.id
    }
    if (req.from !== undefined) await this.checkFrom(req.from, await this.d.repo.get(id))
    return this.transition(id, ['staged'], 'switching', 'rollout-resumed', { switchRequestedAt: this.d.clock.now() })
  }

  /**
   * `switch --from A`: A must be the colour live on the staged rollout's devices — a group of the
   * same devices (the other colour), or the rollout that put the running model there — never the
   * staged candidate itself. @throws {FleetError} `ROLLOUT_CONFLICT`
   */
  private async checkFrom(from: string, staged: Rollout): Promise<void> {
    const refuse = (why: string): never => {
      throw new FleetError('ROLLOUT_CONFLICT', `switch --from ${from}: ${why}; nothing was switched`, {
        details: { from, to: staged.name, rollout: staged.id },
      })
    }
    if (from === staged.name || from === staged.id) refuse(`'${from}' is the staged candidate itself`)
    const group = (await this.d.registry.groups()).find((g) => g.name === from)
    const stagedGroup = (await this.d.registry.groups()).find((g) => g.name === staged.name)
    if (group !== undefined) {
      if (group.colour !== null && group.colour === stagedGroup?.colour) refuse(`'${from}' and '${staged.name ?? ''}' are the same colour`)
      const [mine, theirs] = await Promise.all([this.d.registry.list(group.selector), this.d.repo.progress(staged.id)])
      const ids = new Set(mine.map((x) => x.id))
      const outside = [...theirs.keys()].filter((x) => !ids.has(x))
      if (outside.length > 0)
        refuse(
          `${outside.length} devices of '${staged.name ?? staged.id}' (e.g. ${outside.slice(0, 3).join(', ')}) are not in group '${from}'`,
        )
      return
    }
    const live = (await this.d.repo.list(1000)).find((r) => (r.name === from || r.id === from) && r.target === staged.target)
    if (live === undefined) refuse(`'${from}' is neither a group nor a rollout of the devices '${staged.name ?? staged.id}' is staged on`)
    else if (live.state !== 'completed') refuse(`'${from}' is ${live.state}, not the running release`)
  }

  /**
   * Roll back a rollout, a selector or one device, to the previous model or a version. Skips
   * every gate, touches only devices not already there, and is safe to repeat.
   */
  async rollback(
    input: RollbackRequest,
    deterministicId?: string,
  ): Promise<{ rollout: Rollout | null; touched: number; unchanged: number }> {
    const req = parseOrThrow(RollbackRequestSchema, input)
    if (deterministicId !== undefined) {
      const existing = await this.d.repo.find(deterministicId)
      if (existing !== null) return { rollout: existing, touched: existing.devices?.length ?? 0, unchanged: 0 }
    }
    const { plan, of, unchanged, primary } = await planRollback(this.d, req)
    if (plan.size === 0 || primary === null) return { rollout: null, touched: 0, unchanged }
    const ids = [...plan.keys()]
    const owners = await this.conflicts(ids, null)
    const now = this.d.clock.now()
    const id = deterministicId ?? `rb-${randomUUID().slice(0, 13)}`
    const r: Rollout = {
      id,
      name: null,
      kind: 'rollback',
      revision: 1,
      createdAt: now,
      updatedAt: now,
      state: 'created',
      reason: null,
      target: null,
      devices: ids,
      model: primary,
      // A rollback skips every gate, the trial included: the devices confirm the old model at once;
      // it leaves the release it undoes, that release's debug logging with it.
      policy: { ...(of?.policy ?? PolicySchema.parse({ latencyThresholdMs: 1000 })), trialMs: 0, debug: false },
      mode: 'activate',
      strategy: 'all',
      steps: [{ percent: 100 }],
      stratifyBy: null,
      salt: id,
      bakeMs: 0,
      stepDeadlineMs: req.stepDeadlineMs,
      gate: { successThreshold: 0, failureThreshold: 1, minSamples: 1, onFailure: 'pause' },
      rateLimitPerMin: null,
      maxInFlight: null,
      step: 0,
      stepStartedAt: null,
      bakeUntil: null,
      tokens: 0,
      tokensAt: now,
      switchRequestedAt: null,
      supersedes: owners,
      rollbackOf: of?.id ?? null,
      counts: { ...ZERO_COUNTS, targeted: ids.length },
      finalized: false,
      pendingRollback: false,
      acceptedFailures: 0,
      rolledBackBy: null,
    }
    await this.d.repo.setPlan(id, plan)
    await this.start(r, ids)
    // After its creation, so the rollouts it replaces find these devices locked by it when they stop.
    await this.supersede(owners, id, 'rolled-back')
    if (of !== null && !owners.includes(of.id) && !TERMINAL_STATES.has(of.state)) await this.supersede([of.id], id, 'rolled-back')
    if (of !== null) await this.markRolledBack(of.id, id, now)
    const what = rollbackIssued(of, plan)
    const issued = [{ ...this.event(r, 'rollback-issued', what.message), devices: what.devices }]
    if (of !== null) issued.push({ ...this.event(of, 'devices-returned', `${id}: ${what.message}`), devices: what.devices })
    await this.d.repo.audit(issued)
    for (const e of issued) await this.d.link.publishFleetEvent(e).catch(() => undefined)
    return { rollout: r, touched: ids.length, unchanged }
  }

  /** Link a rollout to the rollback of it (`rollout show` accounts for its devices through it). */
  private async markRolledBack(ofId: string, by: string, now: number): Promise<void> {
    const reason = `rolled back by ${by}`
    await this.d.repo.update(
      ofId,
      (cur) =>
        cur.state === 'completed'
          ? {
              next: { ...cur, state: 'rolled-back', reason, rolledBackBy: by },
              events: [this.event(cur, 'rollout-rolled-back', reason, 'rolled-back')],
            }
          : { next: { ...cur, rolledBackBy: by }, events: [] },
      now,
    )
  }
}
