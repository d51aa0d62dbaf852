import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, testEnv, type Env } from './helpers.js'
import { conformanceChecks, type Controller } from '../src/index.js'
import { phasePath, slotProblems } from '../src/conformance/checks/phases.js'

let env: Env
let c: Controller
beforeAll(async () => {
  env = await testEnv()
  c = await env.start()
})
afterAll(async () => {
  await env.close()
})

describe('POST /v1/conformance', () => {
  it('lists its checks in order, each with the contract clause it comes from', async () => {
    const res = await api(c)<{ checks: { id: string; clause: string; offline: boolean }[] }>('GET', '/v1/conformance/checks')
    expect(res.status).toBe(200)
    const ids = res.body.checks.map((x) => x.id)
    expect(ids.slice(0, 3)).toEqual(['session.status', 'reported.state', 'telemetry.windows'])
    expect(res.body.checks.find((x) => x.id === 'session.will')).toEqual(expect.objectContaining({ clause: '§2.5', offline: true }))
    for (const check of res.body.checks) expect(check.clause).toMatch(/^§\d+(\.\d+)?$/)
  })

  it('refuses an unknown device (404) and a device that is not online (409)', async () => {
    const unknown = await api(c)<{ error: { code: string } }>('POST', '/v1/conformance', { device: 'no-such-device' })
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'REGISTRY_DEVICE_NOT_FOUND'])
    await c.registry.addMany([{ id: 'asleep-1', labels: {} }])
    const asleep = await api(c)<{ error: { code: string; message: string } }>('POST', '/v1/conformance', { device: 'asleep-1' })
    expect([asleep.status, asleep.body.error.code]).toEqual([409, 'REGISTRY_DEVICE_OFFLINE'])
  })

  it('needs the operate scope', async () => {
    const token = await c.tokens.create('reader', ['read'])
    const res = await api(c, token)<{ error: { code: string } }>('POST', '/v1/conformance', { device: 'asleep-1' })
    expect(res.body.error.code).toBe('API_FORBIDDEN')
  })
})

describe('conformance: the phase rules', () => {
  const report = (generation: number, phase: string, slots: { slot: 'a' | 'b'; role: string }[] = [], error: string | null = null) =>
    ({
      generation,
      phase,
      rolloutId: null,
      agentVersion: '1',
      hardware: 'x',
      reason: null,
      error: error === null ? null : { code: error, message: error, retryable: false },
      slots: slots.map((s) => ({ ...s, model: { name: 'm', version: '1.0.0', sha256: 'a'.repeat(64) } })),
    }) as never

  it('follows one generation through its phases and names the first transition §6.5 does not allow', () => {
    const ok = [report(3, 'downloading'), report(3, 'downloading'), report(3, 'verifying'), report(2, 'active'), report(3, 'failed')]
    expect(phasePath(ok, 3)).toEqual({ path: ['downloading', 'verifying', 'failed'], illegal: null })
    expect(phasePath([report(4, 'downloading'), report(4, 'trial')], 4).illegal).toBe('downloading → trial')
    expect(phasePath([report(5, 'active'), report(5, 'trial')], 5).illegal).toBe('active → trial')
  })

  it('finds slots that contradict each other or the phase', () => {
    expect(
      slotProblems(
        report(1, 'active', [
          { slot: 'a', role: 'active' },
          { slot: 'b', role: 'previous' },
        ]),
      ),
    ).toEqual([])
    expect(
      slotProblems(
        report(1, 'active', [
          { slot: 'a', role: 'active' },
          { slot: 'b', role: 'trial' },
        ]),
      ),
    ).toEqual(['2 serving slots'])
    expect(slotProblems(report(1, 'failed', []))).toEqual(['phase failed without an error'])
    expect(slotProblems(report(1, 'active', [], 'AGENT_X'))).toEqual(['an error (AGENT_X) in phase active'])
  })
})

describe('conformance: the kit page', () => {
  it('lists every check with its clause (src/conformance/README.md)', () => {
    const page = readFileSync(join(import.meta.dirname, '../src/conformance/README.md'), 'utf8')
    for (const c of conformanceChecks()) expect(page).toContain(`| \`${c.id}\` | ${c.clause} |`)
  })
})
