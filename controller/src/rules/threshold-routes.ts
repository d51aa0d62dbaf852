import * as z from 'zod'
import { FleetError, ModelNameSchema } from '@liquid-edge/protocol'
import { route, type RouteDef } from '../api/route.js'
import type { RolloutRepo } from '../rollout/repo.js'
import { TERMINAL_STATES } from '../rollout/types.js'
import { BaselineSchema, type Baseline } from '../runbook/verbs/benchmark.js'
import type { RulesStore } from './rules-store.js'
import { ThresholdRecordSchema, thresholdsOf, withThresholds, type ThresholdRecord, type ThresholdsStore } from './thresholds.js'

export interface ThresholdRouteDeps {
  thresholds: ThresholdsStore
  rules: RulesStore
  repo: RolloutRepo
  /** The device ids a target names. */
  devicesOf: (target: string) => Promise<string[]>
}

/** The one model a baseline measured (every group the same name), else null. */
function modelOf(b: Baseline): string | null {
  const names = new Set(b.groups.map((g) => g.model?.replace(/@[^@]*$/, '') ?? null))
  const [only] = names
  return names.size === 1 && only !== undefined ? only : null
}

function basisOf(b: Baseline): string {
  return `baseline of '${b.target}' recorded ${new Date(b.createdAt).toISOString()} over ${Math.round(b.durationMs / 1000)} s`
}

/**
 * Running rollouts (of the record's model) whose devices all lie in `scope`: they get the thresholds now. A rollout
 * that has reached its end but is not yet finalized is still in the active set; it judges nothing more, so it is skipped.
 */
async function applyToActive(d: ThresholdRouteDeps, rec: ThresholdRecord, scope: ReadonlySet<string>): Promise<string[]> {
  const applied: string[] = []
  for (const id of await d.repo.activeIds()) {
    const r = await d.repo.find(id)
    if (r?.kind !== 'deploy' || TERMINAL_STATES.has(r.state) || (rec.model !== null && r.model.name !== rec.model)) continue
    const ids = r.devices ?? (await d.devicesOf(r.target ?? ''))
    if (ids.length === 0 || !ids.every((x) => scope.has(x))) continue
    await d.rules.set(id, withThresholds(await d.rules.get(id), rec, rec.basis))
    applied.push(id)
  }
  return applied
}

/** `liquid-lln monitor --update-thresholds --baseline F`: monitoring thresholds for a group, a target or a model. */
export function thresholdRoutes(d: ThresholdRouteDeps): RouteDef[] {
  return [
    route({
      method: 'POST',
      url: '/v1/thresholds',
      summary:
        "Set monitoring thresholds from a recorded baseline for a target (default: the baseline's own) and a model: the rules of the next rollouts there, and of the running ones, judge latency and energy against it per hardware class",
      scope: 'operate',
      body: z.strictObject({
        baseline: BaselineSchema,
        target: z.string().max(2048).optional(),
        /** Only rollouts of this model; null: any model; default the one model the baseline measured. */
        model: ModelNameSchema.nullable().optional(),
      }),
      response: ThresholdRecordSchema.extend({ devices: z.number().int(), applied: z.array(z.string()) }),
      handler: async ({ body }) => {
        const scope = body.target ?? body.baseline.target
        const devices = await d.devicesOf(scope)
        if (devices.length === 0) throw new FleetError('ROLLOUT_NO_DEVICES', `the target '${scope}' selects no registered devices`)
        const rec: ThresholdRecord = {
          scope,
          model: body.model === undefined ? modelOf(body.baseline) : body.model,
          ...thresholdsOf(body.baseline),
          basis: basisOf(body.baseline),
          setAt: Date.now(),
        }
        await d.thresholds.save(rec)
        return { ...rec, devices: devices.length, applied: await applyToActive(d, rec, new Set(devices)) }
      },
    }),
    route({
      method: 'GET',
      url: '/v1/thresholds',
      summary: 'Saved monitoring thresholds, by target and model',
      scope: 'read',
      response: z.object({ thresholds: z.array(ThresholdRecordSchema) }),
      handler: async () => ({ thresholds: await d.thresholds.list() }),
    }),
  ]
}
