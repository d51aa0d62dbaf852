import { describe, expect, it } from 'vitest'
import { api, makePackage } from './helpers.js'
import { telemetryEnv } from './telemetry/env.js'
import { V1, V2, scenario } from './telemetry/scenario.js'

const q = (mean: number) => ({ samples: 100, mean, p50: mean, p95: mean * 1.2, p99: mean * 1.3, max: mean * 2 })
const baseline = (target: string) => ({
  format: 'liquid-lln/baseline',
  version: 1,
  createdAt: Date.UTC(2026, 0, 1),
  target,
  durationMs: 60_000,
  groups: [{ model: 'kws@1.0.0', hardware: 'hw-a', devices: 4, latencyMs: q(2), energyMw: q(300), errorRate: 0, inferences: 400 }],
  devices: [],
})

interface Rules {
  budgets?: Record<string, unknown>
  basis?: string
}

describe('monitoring thresholds', () => {
  it('a baseline saved for a target judges the next rollouts of its model there, and the running ones, against it per class', async () => {
    await using env = await telemetryEnv()
    const c = await env.start()
    await using s = await scenario(env, c, 4, () => 'hw-a')
    const call = api(c)
    const deploy = async (model: { name: string; version: string }) => {
      const r = await call<{ id: string }>('POST', '/v1/rollouts', {
        model,
        target: 'env=canary',
        strategy: 'all',
        bakeMs: 600_000,
        supersede: true,
      })
      expect(r.status).toBe(201)
      return r.body.id
    }
    const running = await deploy(V2)
    const saved = await call<{ scope: string; model: string | null; devices: number; applied: string[] }>('POST', '/v1/thresholds', {
      baseline: baseline('env=canary'),
    })
    expect(saved.status).toBe(200)
    expect(saved.body).toMatchObject({ scope: 'env=canary', model: 'kws', devices: 4, applied: [running] })
    const rulesOf = async (id: string) => (await call<Rules>('GET', `/v1/rollouts/${id}/rules`)).body
    expect((await rulesOf(running)).budgets).toEqual({ 'hw-a': { latencyThresholdMs: 2, energyBudgetMw: 300 } })

    const next = await deploy(V1)
    const rules = await rulesOf(next)
    expect(rules.budgets).toEqual({ 'hw-a': { latencyThresholdMs: 2, energyBudgetMw: 300 } })
    expect(rules.basis).toMatch(/^baseline of 'env=canary' recorded 2026-01-01T00:00:00\.000Z over 60 s$/)

    // Another model is not judged against this one's baseline.
    expect((await call('POST', '/v1/models', makePackage(env.publisher, 'other', '1.0.0'))).status).toBe(201)
    expect((await rulesOf(await deploy({ name: 'other', version: '1.0.0' }))).budgets).toBeUndefined()
    expect((await call<{ thresholds: unknown[] }>('GET', '/v1/thresholds')).body.thresholds).toHaveLength(1)
    expect(s.ids).toHaveLength(4)
  })

  it('refuses a file that is not a baseline, and a target that names nothing', async () => {
    await using env = await telemetryEnv()
    const c = await env.start()
    const call = api(c)
    expect((await call('POST', '/v1/thresholds', { baseline: { latencyMs: 3 } })).status).toBe(400)
    const nowhere = await call<{ error: { code: string } }>('POST', '/v1/thresholds', { baseline: baseline('env=nowhere') })
    expect(nowhere.body.error.code).toBe('ROLLOUT_NO_DEVICES')
  })
})
