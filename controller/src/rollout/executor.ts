import type { Logger } from 'pino'
import type { FleetEventBody, ModelRef } from '@liquid-edge/protocol'
import type { MqttLink } from '../mqtt/link.js'
import type { ModelStore } from '../models/model-store.js'
import type { Effect } from './effects.js'
import type { DeviceObservation } from './observations.js'
import type { RolloutRepo } from './repo.js'
import { newProgress, type DeviceProgress, type Rollout } from './types.js'

export interface ExecutorDeps {
  repo: RolloutRepo
  link: MqttLink
  models: ModelStore
  logger: Logger
  now: () => number
  /** Issue the rollback of a rollout whose gate tripped (idempotent). */
  rollbackRollout: (rolloutId: string, reason: string) => Promise<void>
  /** Counts desired-state writes (metrics). */
  onDesiredWrite: () => void
}

const COMMAND_TTL_MS = 10 * 60_000
const CONCURRENCY = 200

async function inBatches<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += CONCURRENCY) await Promise.all(items.slice(i, i + CONCURRENCY).map(fn))
}

/** Applies the effects of one tick. Every device-level effect is idempotent, so a crash and a re-run are harmless. */
export class Executor {
  constructor(private readonly d: ExecutorDeps) {}

  private modelFor(r: Rollout, obs: DeviceObservation | undefined): ModelRef {
    return obs?.plan?.via === 'desired' ? obs.plan.model : r.model
  }

  private async publishDesired(r: Rollout, deviceId: string, gen: number, model: ModelRef): Promise<void> {
    await this.d.link.publishDesired(deviceId, { generation: gen, rolloutId: r.id, model, policy: r.policy, mode: r.mode, expiresAt: null })
    this.d.onDesiredWrite()
  }

  private async dispatch(
    r: Rollout,
    e: Extract<Effect, { type: 'dispatch' }>,
    obs: DeviceObservation | undefined,
  ): Promise<DeviceProgress | null> {
    const now = this.d.now()
    const to = { name: e.model.name, version: e.model.version, sha256: e.model.sha256 }
    const p = newProgress({ gen: 0, step: e.step, at: now, published: false, outcome: 'pending', from: e.from, to })
    const res = await this.d.repo.dispatch(
      r.id,
      e.deviceId,
      p,
      { rolloutId: r.id, ...to, mode: r.mode, at: now },
      (obs?.reported?.generation ?? 0) + 1,
    )
    if (res.status === 'locked') return null
    if (res.progress.published || res.progress.gen === null) return res.progress
    await this.publishDesired(r, e.deviceId, res.progress.gen, e.model)
    return { ...res.progress, published: true }
  }

  /** Apply the device-level effects; returns progress records to store. */
  async apply(
    r: Rollout,
    effects: readonly Effect[],
    devices: ReadonlyMap<string, DeviceObservation>,
    progress: ReadonlyMap<string, DeviceProgress>,
  ): Promise<void> {
    const updates = new Map<string, DeviceProgress>()
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
          await this.publishDesired(r, e.deviceId, p.gen, this.modelFor(r, devices.get(e.deviceId)))
          updates.set(e.deviceId, { ...p, published: true })
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
            newProgress({ gen: null, step: e.step, at: now, published: true, outcome: 'pending', from: e.from, to: e.to }),
          )
          await this.d.link.publishCommand(
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
        await this.d.link.publishCommand(e.deviceId, { kind: 'switch', expiresAt: now + COMMAND_TTL_MS }, `${r.id}.${e.deviceId}.switch`)
        if (p !== undefined) updates.set(e.deviceId, { ...p, switched: 'sent' })
        return
      }
      case 'switched': {
        const p = current(e.deviceId)
        if (p !== undefined) updates.set(e.deviceId, { ...p, switched: e.result })
        return
      }
      case 'revert':
        await this.revert(r, e.deviceId, e.to, e.reason, current(e.deviceId), updates)
        return
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

  private async revert(
    r: Rollout,
    deviceId: string,
    to: { name: string; version: string; sha256: string },
    reason: string,
    p: DeviceProgress | undefined,
    updates: Map<string, DeviceProgress>,
  ): Promise<void> {
    const record = await this.d.models.find(to.name, to.version)
    if (record === null || p === undefined) {
      this.d.logger.warn({ rolloutId: r.id, deviceId, reason }, 'cannot revert: previous model not in the store')
      return
    }
    const now = this.d.now()
    const gen = await this.d.repo.nextGeneration(deviceId, { rolloutId: r.id, ...to, mode: 'activate', at: now }, (p.gen ?? 0) + 1)
    await this.d.link.publishDesired(deviceId, {
      generation: gen,
      rolloutId: r.id,
      model: this.d.models.ref(record),
      policy: { ...r.policy, trialMs: 0 }, // a way back, like a rollback: no trial
      mode: 'activate',
      expiresAt: null,
    })
    this.d.onDesiredWrite()
    updates.set(deviceId, { ...p, outcome: 'failed', reverted: true, error: `${reason}; sent back to ${to.version}`, outcomeAt: now })
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
