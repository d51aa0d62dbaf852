import type { Logger } from 'pino'
import type { DeviceAccount, FleetEventBody, ModelRef } from '@liquid-edge/protocol'
import type { DesiredStates, DesiredTemplate } from '../desired/desired-states.js'
import type { PendingCommands } from '../desired/pending-commands.js'
import type { MqttLink } from '../mqtt/link.js'
import type { ModelStore } from '../models/model-store.js'
import { fitAccounts } from './accounting.js'
import type { Effect } from './effects.js'
import type { DeviceObservation } from './observations.js'
import type { RolloutRepo } from './repo.js'
import { COMMAND_TTL_MS, fallbackReason, revertDevice } from './send-back.js'
import { newProgress, type DeviceProgress, type ModelSummary, type PlanEntry, type Rollout } from './types.js'
import { noteOf } from './way-back.js'

export interface ExecutorDeps {
  repo: RolloutRepo
  link: MqttLink
  models: ModelStore
  desired: DesiredStates
  commands: PendingCommands
  logger: Logger
  now: () => number
  /** Issue the rollback of a rollout whose gate tripped (idempotent). */
  rollbackRollout: (rolloutId: string, reason: string) => Promise<void>
}

const CONCURRENCY = 200

async function inBatches<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += CONCURRENCY) await Promise.all(items.slice(i, i + CONCURRENCY).map(fn))
}

/** Applies the effects of one tick. Every device-level effect is idempotent, so a crash and a re-run are harmless. */
export class Executor {
  constructor(private readonly d: ExecutorDeps) {}

  /** The model (or none) and the fallback note of a device's desired state in `r`. */
  private target(r: Rollout, plan: PlanEntry | null): { model: ModelRef | null; note: string | null } {
    if (plan === null) return { model: r.model, note: null }
    return { model: plan.via === 'desired' ? plan.model : null, note: noteOf(plan) }
  }

  /** The shared part of the desired states `r` sends: a fallback's note becomes their reason. */
  private template(r: Rollout, note: string | null): DesiredTemplate {
    const why = r.rollbackOf === null ? 'rollback' : `rollback of ${r.rollbackOf}`
    return { policy: r.policy, mode: r.mode, expiresAt: null, reason: fallbackReason(why, note) }
  }

  private async publishDesired(
    r: Rollout,
    deviceId: string,
    gen: number,
    t: { model: ModelRef | null; note: string | null },
  ): Promise<void> {
    await this.d.desired.publish(deviceId, { generation: gen, rolloutId: r.id, model: t.model, ...this.template(r, t.note) })
  }

  private async dispatch(
    r: Rollout,
    e: Extract<Effect, { type: 'dispatch' }>,
    obs: DeviceObservation | undefined,
  ): Promise<DeviceProgress | null> {
    const now = this.d.now()
    const to: ModelSummary | null = e.model === null ? null : { name: e.model.name, version: e.model.version, sha256: e.model.sha256 }
    const p = newProgress({
      gen: 0,
      step: e.step,
      at: now,
      published: false,
      outcome: 'pending',
      from: e.from,
      to,
      route: e.route,
      note: e.note,
    })
    const body = await this.d.desired.saveTemplate(this.template(r, e.note))
    const fields = to ?? { name: null, version: null, sha256: null }
    // Way-back records remember no "from": there is nothing to go back to from a way back.
    const record = { rolloutId: r.id, ...fields, mode: r.mode, at: now, from: e.route === 'release' ? e.from : null, body }
    const res = await this.d.repo.dispatch(r.id, e.deviceId, p, record, (obs?.reported?.generation ?? 0) + 1)
    if (res.status === 'locked') return null
    if (res.progress.published || res.progress.gen === null) return res.progress
    await this.publishDesired(r, e.deviceId, res.progress.gen, { model: e.model, note: e.note })
    return { ...res.progress, published: true }
  }

  /** Apply the device-level effects; returns progress records to store. */
  async apply(
    r: Rollout,
    effects: readonly Effect[],
    devices: ReadonlyMap<string, DeviceObservation>,
    progress: ReadonlyMap<string, DeviceProgress>,
  ): Promise<FleetEventBody[]> {
    const updates = new Map<string, DeviceProgress>()
    const returned: DeviceAccount[] = []
    const current = (id: string): DeviceProgress | undefined => updates.get(id) ?? progress.get(id)
    const now = this.d.now()
    await inBatches(effects, async (e) => {
      switch (e.type) {
        case 'dispatch': {
          const p = await this.dispatch(r, e, devices.get(e.deviceId))
          if (p !== null) updates.set(e.deviceId, p)
          return
        }
        case 'publish': {
          const p = current(e.deviceId)
          if (p?.gen == null || p.gen === 0) return
          await this.publishDesired(r, e.deviceId, p.gen, this.target(r, devices.get(e.deviceId)?.plan ?? null))
          updates.set(e.deviceId, { ...p, published: true })
          return
        }
        case 'withdraw':
          await this.withdraw(r, e)
          return
        case 'revert': {
          const p = current(e.deviceId)
          if (p === undefined) return
          const back = await revertDevice(this.d, r, e.deviceId, e.reason, p, devices.get(e.deviceId))
          updates.set(e.deviceId, back.progress)
          returned.push(back.account)
          return
        }
        case 'skip':
          await this.d.repo.addProgress(
            r.id,
            e.deviceId,
            newProgress({ gen: null, step: e.step, at: now, published: true, outcome: 'skipped', from: null, to: e.model }),
          )
          return
        case 'rollback-command':
          await this.d.repo.addProgress(
            r.id,
            e.deviceId,
            newProgress({
              gen: null,
              step: e.step,
              at: now,
              published: true,
              outcome: 'pending',
              from: e.from,
              to: e.to,
              route: 'previous',
            }),
          )
          await this.d.commands.send(
            e.deviceId,
            { kind: 'rollback', expiresAt: now + COMMAND_TTL_MS, to: { to: 'previous' } },
            `${r.id}.${e.deviceId}.rollback`,
          )
          return
        default:
          await this.applyOther(r, e, current, updates)
      }
    })
    await this.d.repo.setProgress(r.id, [...updates])
    return returned.length === 0 ? [] : [returnedEvent(r, returned)]
  }

  /** A rollback device that never left the model it goes back to: its release state is withdrawn. */
  private async withdraw(r: Rollout, e: Extract<Effect, { type: 'withdraw' }>): Promise<void> {
    const now = this.d.now()
    const p = newProgress({
      gen: null,
      step: e.step,
      at: now,
      published: true,
      outcome: 'pending',
      from: e.model,
      to: e.model,
      route: 'previous',
    })
    await this.d.repo.addProgress(r.id, e.deviceId, p)
    await this.d.repo.nextGeneration(e.deviceId, { rolloutId: r.id, ...e.model, mode: 'activate', at: now, from: null, retained: false }, 1)
    await this.d.desired.withdraw(e.deviceId)
  }

  private async applyOther(
    r: Rollout,
    e: Effect,
    current: (id: string) => DeviceProgress | undefined,
    updates: Map<string, DeviceProgress>,
  ): Promise<void> {
    const now = this.d.now()
    switch (e.type) {
      case 'outcome': {
        const p = current(e.deviceId)
        if (p !== undefined) updates.set(e.deviceId, { ...p, outcome: e.outcome, error: e.error, outcomeAt: now })
        return
      }
      case 'switch': {
        const p = current(e.deviceId)
        await this.d.commands.send(e.deviceId, { kind: 'switch', expiresAt: now + COMMAND_TTL_MS }, `${r.id}.${e.deviceId}.switch`)
        if (p !== undefined) updates.set(e.deviceId, { ...p, switched: 'sent' })
        return
      }
      case 'switched': {
        const p = current(e.deviceId)
        if (p !== undefined) updates.set(e.deviceId, { ...p, switched: e.result })
        return
      }
      case 'rollback-rollout':
        await this.d.rollbackRollout(r.id, e.reason)
        return
      case 'release':
        await this.d.repo.releaseLocks(r.id)
        return
      default:
        return
    }
  }

  /** Publish events (after the state that caused them is stored). */
  async publishEvents(events: readonly FleetEventBody[]): Promise<void> {
    for (const body of events) {
      try {
        await this.d.link.publishFleetEvent(body)
      } catch (err) {
        this.d.logger.warn({ err }, 'fleet event not published')
      }
    }
  }
}

/** The event that lists devices sent back by a rollout (abort, superseded, rules), with where and why. */
function returnedEvent(r: Rollout, devices: DeviceAccount[]): FleetEventBody {
  const fallback = devices.filter((d) => d.route === 'fallback')
  const none = fallback.filter((d) => d.model === null).length
  const message =
    `${devices.length} devices sent back: ${devices.length - fallback.length} to their previous model` +
    (fallback.length === 0 ? '' : `, ${fallback.length} to the fallback${none > 0 ? ` (${none} with no model)` : ''}`) +
    `: ${devices
      .slice(0, 10)
      .map((d) => `${d.deviceId} → ${d.model === null ? 'no model' : d.model.version}`)
      .join(', ')}${devices.length > 10 ? ', …' : ''}`
  return {
    event: 'devices-returned',
    rolloutId: r.id,
    state: r.state,
    severity: fallback.length > 0 ? 'warning' : 'info',
    message,
    model: { name: r.model.name, version: r.model.version },
    devices: fitAccounts(devices),
  }
}
