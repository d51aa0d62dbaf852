import { randomUUID } from 'node:crypto'
import * as z from 'zod'
import { FleetError, PolicySchema, type FleetEventBody } from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'
import type { MqttLink } from '../mqtt/link.js'
import type { ModelStore } from '../models/model-store.js'
import type { LiveStore } from '../registry/live.js'
import type { Registry } from '../registry/registry.js'
import { parseSelector } from '../registry/selector.js'
import type { RolloutEngine } from './engine.js'
import type { StepSpec } from './membership.js'
import { DeployRequestSchema, RollbackRequestSchema, SwitchRequestSchema, type DeployRequest, type RollbackRequest } from './requests.js'
import type { RolloutRepo } from './repo.js'
import { planRollback } from './rollback-plan.js'
import { SUPERSEDED, TERMINAL_STATES, ZERO_COUNTS, type Rollout, type RolloutState } from './types.js'

export interface RolloutServiceDeps {
  repo: RolloutRepo
  registry: Registry
  live: LiveStore
  models: ModelStore
  link: MqttLink
  clock: Clock
  engine: () => RolloutEngine
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
    const req = parseOrThrow(DeployRequestSchema, input)
    parseSelector(req.target)
    const record = await this.d.models.get(req.model.name, req.model.version)
    const devices = await this.d.registry.list(req.target)
    if (devices.length === 0) throw new FleetError('ROLLOUT_NO_DEVICES', `the target '${req.target}' selects no registered devices`)
    const ids = devices.map((x) => x.id)
    const conflicting = await this.conflicts(ids, null)
    if (conflicting.length > 0 && !req.supersede) {
      throw new FleetError(
        'ROLLOUT_CONFLICT',
        `rollouts ${conflicting.join(', ')} are active on some of these devices; pass supersede to replace them`,
        { details: { rollouts: conflicting } },
      )
    }
    const now = this.d.clock.now()
    const id = `r-${randomUUID().slice(0, 13)}`
    const policy = PolicySchema.parse({
      latencyThresholdMs: record.manifest.latencyThresholdMs,
      energyBudgetMw: record.manifest.energyBudgetMw,
      ...req.policy,
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
      target: req.target,
      devices: null,
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
      maxInFlight: req.maxInFlight ?? null,
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
    }
    // Created first, so the rollouts it replaces find their devices locked by it when they stop.
    await this.start(r, ids)
    await this.supersede(conflicting, id, 'aborted')
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
    return this.transition(id, ['paused'], 'running', 'rollout-resumed', {
      reason: null,
      bakeUntil: null,
      acceptedFailures: cur.counts.failed + cur.counts.silent,
    })
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
    return this.transition(id, ['staged'], 'switching', 'rollout-resumed', { switchRequestedAt: this.d.clock.now() })
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
      // A rollback skips every gate, the trial included: the devices confirm the old model at once.
      policy: { ...(of?.policy ?? PolicySchema.parse({ latencyThresholdMs: 1000 })), trialMs: 0 },
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
    }
    await this.d.repo.setPlan(id, plan)
    await this.start(r, ids)
    // After its creation, so the rollouts it replaces find these devices locked by it when they stop.
    await this.supersede(owners, id, 'rolled-back')
    if (of !== null && !owners.includes(of.id) && !TERMINAL_STATES.has(of.state)) await this.supersede([of.id], id, 'rolled-back')
    if (of?.state === 'completed') {
      const reason = `rolled back by ${id}`
      await this.d.repo.update(
        of.id,
        (cur) => ({
          next: { ...cur, state: 'rolled-back', reason },
          events: [this.event(cur, 'rollout-rolled-back', reason, 'rolled-back')],
        }),
        now,
      )
    }
    await this.d.link
      .publishFleetEvent(this.event(r, 'rollback-issued', `rollback of ${ids.length} devices${of === null ? '' : ` (rollout ${of.id})`}`))
      .catch(() => undefined)
    return { rollout: r, touched: ids.length, unchanged }
  }
}
