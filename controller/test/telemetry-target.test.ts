import { describe, expect, it } from 'vitest'
import { waitFor } from '@liquid-edge/test/harness'
import { api } from './helpers.js'
import { telemetryEnv } from './telemetry/env.js'
import { V1, scenario } from './telemetry/scenario.js'

interface Row {
  cohort: string
  running: number
  devices: number
  windows: number
  inferenceRate: number | null
  errorRate: number | null
  latencyAvgMs: number | null
}

describe('telemetry of a target', () => {
  it("counts each of the target's devices once, by what it runs now, and sums only its own windows", async () => {
    await using env = await telemetryEnv({ telemetryBucketMs: 500 })
    const c = await env.start()
    await using s = await scenario(env, c, 4)
    const model = V1
    // dev-0 is the target; the others run the same version with more errors (dev-1 as few).
    s.telemetry.run(s.ids, (id) => ({ model, inferences: 10, errors: id === 'dev-0' || id === 'dev-1' ? 1 : 5, latencyMs: null }))
    const call = api(c)
    const rows = async (target: string): Promise<Row[]> =>
      (await call<{ cohorts: Row[] }>('GET', `/v1/telemetry?spanMs=60000&target=${encodeURIComponent(target)}`)).body.cohorts
    const pair = await waitFor(async () => {
      const r = (await rows('dev-0')).find((x) => x.cohort === 'kws@1.0.0')
      return r !== undefined && r.windows >= 4 ? r : null
    })
    expect(pair).toMatchObject({ running: 1, devices: 1 })
    expect(pair.errorRate).toBeCloseTo(0.1) // dev-0's own: 1 error in 10, never the others' 5 in 10
    const all = await rows('env=canary')
    expect(all.reduce((n, r) => n + r.running, 0)).toBe(4)
    expect(all.find((x) => x.cohort === 'kws@1.0.0')?.errorRate).toBeGreaterThan(0.2)
    const unknown = await call<{ error: { code: string } }>('GET', '/v1/telemetry?target=nowhere')
    expect(unknown.body.error.code).toBe('ROLLOUT_NO_DEVICES')
    s.telemetry.stop()
  })
})
