/**
 * Verdicts are decided on reason codes and values, never on sentences: every sentence of the reason
 * registry is reworded — on the devices (their check details) and in the controller (its reasons) —
 * and every verb must come to the same verdicts, per device and overall, with the same codes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REASON_TEMPLATES } from '@liquid-edge/protocol'
import { startAgentFleet, waitFor, type AgentFleet } from '@liquid-edge/test/harness'
import type { Controller } from '../src/index.js'
import { api, testEnv, type Env } from './helpers.js'

interface Report {
  verdict: string
  reasons: { code: string; severity: string; deviceId?: string; text: string }[]
  results?: { deviceId: string; passed?: boolean }[]
}

let env: Env
let controller: Controller
let fleet: AgentFleet

beforeAll(async () => {
  env = await testEnv()
  controller = await env.start()
  const devices = [
    { id: 'why-ok', hardware: 'rpi4', faults: { energyMj: 0.002 }, sensors: { powerMw: 50 } },
    // golden outputs right, but 60 ms against the package's 25 ms threshold (a loaded machine's pauses stay under it)
    { id: 'why-slow', hardware: 'stm32h743', faults: { latencyMs: 60, energyMj: 0.004 }, sensors: { powerMw: 50 } },
    // wrong outputs: golden vectors and accuracy fail
    { id: 'why-wrong', hardware: 'rpi4', faults: { outputOffset: 1, energyMj: 0.002 }, sensors: { powerMw: 50 } },
  ]
  await controller.registry.addMany(devices.map((d) => ({ id: d.id, labels: { env: 'why', hw: d.hardware } })))
  fleet = await startAgentFleet({
    url: env.broker.url,
    root: env.root,
    privateKey: env.publisher.privateKey,
    publicKeyPem: env.publisher.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    devices,
    package: { name: 'why', version: '1.0.0', evaluation: true, latencyThresholdMs: 25, energyBudgetMw: 500 },
  })
  await controller.models.push(fleet.pkg.bytes)
  for (const id of ['why-ok', 'why-slow', 'why-wrong']) {
    await fleet.infer(id, 5)
    await fleet.agents.get(id)?.closeWindow() // a window with power: the energy check can judge
  }
  await waitFor(async () => {
    const res = await api(controller)<{ devices: { active: string | null }[] }>('GET', '/v1/devices?target=env%3Dwhy')
    return res.body.devices.every((d) => d.active === 'why@1.0.0')
  })
}, 60_000)

afterAll(async () => {
  await fleet.close()
  await env.close()
})

const REQUESTS: [verb: string, body: Record<string, unknown>][] = [
  ['verify', { target: 'env=why', suite: 'integration', samples: 20 }],
  ['test', { target: 'env=why' }],
  ['evaluate', { target: 'env=why' }],
  ['profile', { target: 'env=why', metric: 'latency', samples: 20 }],
  ['evaluate', { target: 'env=why', dataset: 'no-such-set' }],
]

/** What a verdict is: overall, per device, and the codes (with their severities) behind it. */
async function verdicts(): Promise<{ judged: unknown[]; texts: string[] }> {
  const judged: unknown[] = []
  const texts: string[] = []
  for (const [verb, body] of REQUESTS) {
    const res = await api(controller)<Report>('POST', `/v1/runbook/${verb}`, { timeoutMs: 10_000, ...body })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    const r = res.body
    judged.push({
      verb,
      verdict: r.verdict,
      devices: (r.results ?? []).map((x) => [x.deviceId, x.passed]).sort(),
      reasons: r.reasons.map((x) => `${x.severity} ${x.code} ${x.deviceId ?? ''}`).sort(),
    })
    texts.push(...r.reasons.map((x) => x.text))
  }
  return { judged, texts }
}

describe('runbook verdicts', () => {
  it('come out the same when every check and reason sentence is reworded: codes decide, not text', async () => {
    const before = await verdicts()
    // The scenario the English used to decide: a slow device passes `test` (outputs right), a wrong one fails.
    expect(before.judged).toContainEqual(
      expect.objectContaining({
        verb: 'test',
        verdict: 'fail',
        devices: [
          ['why-ok', true],
          ['why-slow', true],
          ['why-wrong', false],
        ],
      }),
    )
    expect(before.judged).toContainEqual(
      expect.objectContaining({
        verb: 'verify',
        devices: [
          ['why-ok', true],
          ['why-slow', false],
          ['why-wrong', false],
        ],
      }),
    )

    const templates = REASON_TEMPLATES as Record<string, string>
    const original = { ...templates }
    try {
      for (const code of Object.keys(templates)) templates[code] = `«${code.toLowerCase()} — reworded» {deviceId}`
      const after = await verdicts()
      expect(after.judged).toEqual(before.judged)
      expect(after.texts.every((t) => t.startsWith('«'))).toBe(true)
      expect(after.texts).not.toEqual(before.texts)
    } finally {
      Object.assign(templates, original)
    }
  }, 120_000)
})
