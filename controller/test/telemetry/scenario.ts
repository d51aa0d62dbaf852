import { expect } from 'vitest'
import type { FleetEventBody } from '@liquid-edge/protocol'
import { startFakeDevices, waitFor, type FakeDevice } from '@liquid-edge/test/harness'
import type { Controller } from '../../src/index.js'
import type { RuleInput } from '../../src/rules/rule.js'
import { api, makePackage } from '../helpers.js'
import { TelemetryPublisher, type TelemetryEnv } from './env.js'

export const V1 = { name: 'kws', version: '1.0.0' }
export const V2 = { name: 'kws', version: '2.0.0' }

export type AuditEvent = FleetEventBody & { id: string; at: number }

export interface Scenario extends AsyncDisposable {
  devices: FakeDevice[]
  ids: string[]
  telemetry: TelemetryPublisher
  /** Deploy V2 to every device (held in bake so rules keep evaluating); resolves with its id. */
  deployV2(rules: RuleInput[], dryRun?: boolean, policy?: Record<string, unknown>): Promise<string>
  events(rolloutId?: string): Promise<AuditEvent[]>
  state(rolloutId: string): Promise<string>
}

/** Devices on V1 (deployed through the controller), a telemetry publisher, and helpers. */
export async function scenario(env: TelemetryEnv, c: Controller, n = 4, hardware?: (i: number) => string): Promise<Scenario> {
  // The newest controller answers (a test may close the first one).
  const call: ReturnType<typeof api> = (method, path, body) => api(env.controllers.at(-1) ?? c)(method, path, body)
  const ids = Array.from({ length: n }, (_, i) => `dev-${i}`)
  await call('POST', '/v1/devices/bulk', { devices: ids.map((id) => ({ id, labels: { env: 'canary' } })) })
  expect((await call('POST', '/v1/models', makePackage(env.publisher, V1.name, V1.version))).status).toBe(201)
  expect((await call('POST', '/v1/models', makePackage(env.publisher, V2.name, V2.version))).status).toBe(201)
  const devices = await startFakeDevices({ url: env.broker.url, root: env.root }, ids, (_id, i) =>
    hardware === undefined ? {} : { hardware: hardware(i) },
  )
  const first = await call<{ id: string }>('POST', '/v1/rollouts', { model: V1, target: 'env=canary', strategy: 'all' })
  await waitFor(async () => (await call<{ state: string }>('GET', `/v1/rollouts/${first.body.id}`)).body.state === 'completed', {
    timeoutMs: 15_000,
    what: 'V1 everywhere',
  })
  const telemetry = await TelemetryPublisher.connect(env.broker.url, env.root)
  const s: Scenario = {
    devices,
    ids,
    telemetry,
    async deployV2(rules, dryRun = false, policy) {
      const res = await call<{ id: string }>('POST', '/v1/rollouts', {
        model: V2,
        target: 'env=canary',
        strategy: 'all',
        bakeMs: 600_000,
        ...(policy === undefined ? {} : { policy }),
      })
      expect(res.status).toBe(201)
      const set = await call('POST', `/v1/rollouts/${res.body.id}/rules`, { rules, dryRun })
      expect(set.status).toBe(200)
      await waitFor(() => devices.every((d) => d.active?.version === V2.version), { timeoutMs: 15_000, what: 'V2 everywhere' })
      return res.body.id
    },
    async events(rolloutId) {
      const q = rolloutId === undefined ? '' : `&rollout=${rolloutId}`
      return (await call<{ events: AuditEvent[] }>('GET', `/v1/events?limit=1000${q}`)).body.events
    },
    async state(rolloutId) {
      return (await call<{ state: string }>('GET', `/v1/rollouts/${rolloutId}`)).body.state
    },
    async [Symbol.asyncDispose]() {
      await telemetry[Symbol.asyncDispose]()
      await devices[Symbol.asyncDispose]()
    },
  }
  return s
}

/** Telemetry as each device's active model would send it, with `errorRate` on V2. */
export function byModel(devices: readonly FakeDevice[], v2: { errors?: number; latencyP50?: number; avgMw?: number }) {
  const byId = new Map(devices.map((d) => [d.id, d]))
  return (id: string) => {
    // A device that is not connected sends nothing (its telemetry would contradict its Last Will).
    if (byId.get(id)?.connected === false) return null
    const active = byId.get(id)?.active ?? null
    const model = active === null ? null : { name: active.name, version: active.version }
    if (model?.version !== V2.version) return { model }
    const p50 = v2.latencyP50 ?? 4
    return {
      model,
      errors: v2.errors ?? 0,
      latencyMs: { p50, p95: p50 * 1.5, p99: p50 * 2, max: p50 * 2 },
      energy: { avgMw: v2.avgMw ?? 50, perInferenceMj: null },
    }
  }
}

export const ERROR_RULE: RuleInput = {
  name: 'error-rate',
  metric: 'error_rate',
  threshold: 0.1,
  windowMs: 300,
  sustainedMs: 300,
  minSamples: 40,
  action: 'rollback-rollout',
}
