import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '@liquid-edge/test/harness'
import { ADMIN, api } from '@liquid-edge/test/controller'
import { EXIT, VERDICT_FAILED } from '../src/index.js'
import { runLiquidLln, startRunbookFleet, stopDevice, type RunbookFleet } from './support/runbook-fleet.js'

interface Reason {
  code: string
  severity: 'fail' | 'note'
  deviceId?: string
  values: Record<string, unknown>
  text: string
}
type Json = Record<string, unknown> & { verdict: string; reasons: Reason[]; unreachable: { deviceId: string; reason: string }[] }
const json = (out: string): Json => JSON.parse(out) as Json

describe('runbook verbs against real agents with injected faults', () => {
  let rb: RunbookFleet
  const dir = mkdtempSync(join(tmpdir(), 'lln-rb-'))

  beforeAll(async () => {
    rb = await startRunbookFleet([
      { id: 'rb-1', hardware: 'rpi4', faults: { energyMj: 0.002 } },
      { id: 'rb-2', hardware: 'rpi4', faults: { energyMj: 0.002 } },
      { id: 'rb-3', hardware: 'stm32h743', faults: { energyMj: 0.001 } },
      // slow: 20 ms per inference against the model's 5 ms threshold
      { id: 'rb-4', hardware: 'stm32h743', faults: { latencyMs: 20, energyMj: 0.004 } },
      // wrong outputs and every second inference fails
      { id: 'rb-5', hardware: 'rpi4', faults: { outputOffset: 1, errorEvery: 2 } },
      // stopped below: unreachable
      { id: 'rb-6', hardware: 'rpi4' },
    ])
    await stopDevice(rb, 'rb-6')
  }, 40_000)
  afterAll(async () => {
    await rb.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('verify: per-device verdicts, unreachable devices fail the verdict unless allowed, exit codes', async () => {
    const all = await rb.cli('verify', '--target', 'env=rb', '--test-suite', 'smoke', '--json')
    expect(all.code).toBe(VERDICT_FAILED)
    const r = json(all.out)
    expect(r.verdict).toBe('fail')
    expect(r.unreachable).toEqual([{ deviceId: 'rb-6', hardware: 'rpi4', reason: 'offline' }])
    expect(r.partial).toBe(true)
    const failedIds = [
      ...(r.results as { deviceId: string; passed: boolean }[]).filter((x) => !x.passed).map((x) => x.deviceId),
      ...(r.errors as { deviceId: string }[]).map((e) => e.deviceId),
    ]
    expect(failedIds.sort()).toEqual(['rb-4', 'rb-5']) // rb-4: golden latency over the threshold
    const allowed = await rb.cli('verify', '--target', 'env=rb', '--allow-unreachable')
    expect(allowed.code).toBe(VERDICT_FAILED) // rb-5 still fails
    expect(allowed.out).toContain('PARTIAL')
    expect(allowed.out).toMatch(/rb-6 \(offline\)/)
    expect(allowed.err).toMatch(/\[\d\/6\] rb-\d/) // progress
    const stm = await rb.cli('verify', '--target', 'rb-3')
    expect(stm.code).toBe(EXIT.OK)
    expect(stm.out).toContain('verdict: PASS')
    const integration = await rb.cli('verify', '--target', 'hw=stm32h743', '--test-suite', 'integration', '--json')
    expect(integration.code).toBe(VERDICT_FAILED)
    expect(json(integration.out).reasons).toContainEqual(
      expect.objectContaining({
        code: 'VERDICT_CHECKS_FAILED',
        severity: 'fail',
        deviceId: 'rb-4',
        values: expect.objectContaining({ checks: expect.arrayContaining(['latency-p95']) as unknown }) as unknown,
      }),
    )
  })

  it('profile: fleet quantiles, per-hardware breakdown, outliers and budgets', async () => {
    const res = await rb.cli('profile', '--target', 'env=rb', '--metric', 'latency', '--samples', '40', '--allow-unreachable', '--detailed')
    expect(res.code).toBe(VERDICT_FAILED)
    expect(res.out).toMatch(/rb-4 \(stm32h743\): p95 latency 20 ms over its 5 ms threshold/)
    expect(res.out).toMatch(/stm32h743 ×2/)
    // Each device is compared with its own hardware class only (two devices a class here: too few to call one an outlier).
    expect(res.out).toContain('outliers: none')
    const j = await rb.cli('profile', '--target', 'rpi4', '--metric', 'energy', '--samples', '20', '--allow-unreachable', '--json')
    const r = json(j.out)
    expect(r.unit).toBe('mW')
    expect((r.byHardware as { hardware: string }[]).map((g) => g.hardware)).toEqual(['rpi4'])
    expect((r.fleet as { samples: number }).samples).toBeGreaterThan(0)
    expect(j.code).toBe(VERDICT_FAILED) // rb-5 errors while profiling
  })

  it('a verb that measures for a while says every few seconds what it waits for, also when piped', async () => {
    const res = await rb.cli('profile', '--target', 'rb-1', '--metric', 'latency', '--duration', '6s')
    expect(res.code, res.err).toBe(EXIT.OK)
    expect(res.err).toMatch(
      /^ {2}profile: (waiting for the devices|0\/1 devices answered)(, 1 measuring, \d+ samples so far)? \([5-9] s\)$/m,
    )
    expect(res.err).toMatch(/^ {2}\[1\/1\] rb-1 /m)
  })

  it('monitor follows its target only: each device once, by what it runs now; plain lines when piped', async () => {
    const one = await rb.cli('monitor', '--target', 'rb-1', '--duration', '1')
    expect(one.code, one.err).toBe(EXIT.OK)
    expect(one.out).toMatch(/^\d\d:\d\d:\d\d rb-1 kws@1\.0\.0: 1 running, [01] reporting, /m)
    expect(one.out).not.toContain('\u001b[') // no redraw
    expect(one.out).not.toContain('COHORT') // no table scrolling by
    expect(one.out.split('\n')[0]).toMatch(/^\* every device on that version/) // what the starred figures mean, once
    const all = await rb.cli('--json', 'monitor', '--target', 'env=rb', '--duration', '1')
    const frame = JSON.parse(all.out.split('\n')[0] ?? '') as { cohorts: { cohort: string; running: number }[] }
    expect(frame.cohorts.reduce((n, c) => n + c.running, 0)).toBe(6) // the target's devices, each once (rb-6 is offline: still its model)
  })

  it('evaluate: accuracy per device and overall against the model minimum', async () => {
    const ok = await rb.cli('evaluate', '--target', 'rb-1', '--dataset', 'validation', '--json')
    expect(ok.code).toBe(EXIT.OK)
    const r = json(ok.out)
    expect(r.minAccuracy).toBe(0.9)
    expect(r.overall).toEqual({ samples: 3, correct: 3, accuracy: 1 })
    const strict = await rb.cli('evaluate', '--target', 'rb-1', '--min-accuracy', '1.5')
    expect(strict.code).toBe(EXIT.USAGE)
    const all = await rb.cli('evaluate', '--target', 'env=rb', '--allow-unreachable', '--json')
    expect(all.code).toBe(VERDICT_FAILED)
    expect((json(all.out).errors as { deviceId: string }[]).map((e) => e.deviceId)).toEqual(['rb-5'])
  })

  it('health: offline, error rate from telemetry, version mix', async () => {
    await rb.fleet.infer('rb-5', 40)
    await rb.fleet.infer('rb-1', 40)
    let last = ''
    await waitFor(async () => {
      last = (await rb.cli('health', '--target', 'rb-5', '--json')).out
      const r = json(last)
      return ((r.results as { errorRate: number | null }[])[0]?.errorRate ?? 0) > 0.3
    }).catch((err: unknown) => {
      throw new Error(`no error rate in health: ${last}`, { cause: err })
    })
    const res = await rb.cli('health', '--target', 'env=rb', '--json')
    expect(res.code).toBe(VERDICT_FAILED)
    const r = json(res.out)
    expect(r.online).toBe(5)
    expect(r.offline).toBe(1)
    expect(r.versions).toMatchObject({ models: { 'kws@1.0.0': 6 } })
    const rb5 = r.reasons.find((x) => x.code === 'VERDICT_HEALTH_PROBLEMS' && x.deviceId === 'rb-5')
    expect(rb5?.values.codes).toEqual(['HEALTH_ERROR_RATE'])
    expect(rb5?.text).toMatch(/rb-5: error rate [3-6]\d(\.\d)?%/)
    const one = await rb.cli('health', '--target', 'rb-1')
    expect(one.code).toBe(EXIT.OK)
    expect(one.out).toMatch(/rb-1 +rpi4 +online/)
  })

  it('analyze: ranks the hardware class and devices that explain the regression', async () => {
    const res = await rb.cli('analyze', '--target', 'env=rb', '--metric', 'performance', '--samples', '20', '--allow-unreachable', '--json')
    expect(res.code).toBe(VERDICT_FAILED)
    const r = json(res.out)
    expect((r.suspects as { deviceId: string; referenceFrom: string }[])[0]).toMatchObject({ deviceId: 'rb-4', referenceFrom: 'threshold' })
    expect((r.hardware as { hardware: string; share: number }[])[0]).toMatchObject({ hardware: 'stm32h743', share: 1 })
  })

  it('benchmark writes a baseline; compare passes against it, then fails on a regression', async () => {
    const file = join(dir, 'baseline.json')
    const bench = await rb.cli('benchmark', '--target', 'hw=stm32h743', '--duration', '300ms', '--output', file)
    expect(bench.code, bench.out).toBe(EXIT.OK)
    const baseline = JSON.parse(readFileSync(file, 'utf8')) as { groups: { latencyMs?: { p95: number } }[] }
    expect(baseline.groups).toHaveLength(1)
    expect(baseline.groups[0]).toMatchObject({ model: 'kws@1.0.0', hardware: 'stm32h743', devices: 2 })
    expect(baseline.groups[0]?.latencyMs?.p95).toBe(20)
    const same = await rb.cli('compare', '--target', 'hw=stm32h743', '--baseline', file, '--duration', '300ms', '--json')
    expect(same.code, same.out).toBe(EXIT.OK)
    rb.fleet.drivers.get('rb-3')!.faults = { latencyMs: 20, energyMj: 0.001 }
    const worse = await rb.cli('compare', '--target', 'hw=stm32h743', '--baseline', file, '--duration', '300ms', '--json')
    expect(worse.code).toBe(VERDICT_FAILED)
    const metrics = json(worse.out).metrics as { metric: string; verdict: string }[]
    expect(metrics.find((m) => m.metric === 'latency.p50')?.verdict).toBe('worse')
    expect(metrics.find((m) => m.metric === 'latency.p95')?.verdict).toBe('same') // rb-4 was already at 20 ms
    // The same file sets the monitoring thresholds of the target it measured, for the next rollouts there.
    const set = await rb.cli('monitor', '--update-thresholds', '--baseline', file)
    expect(set.code, set.err).toBe(EXIT.OK)
    expect(set.out).toMatch(
      /^monitoring thresholds for 'hw=stm32h743' \(2 devices\), model kws, from the baseline of 'hw=stm32h743' recorded /,
    )
    expect(set.out).toMatch(/^ {2}stm32h743: latency \d+(\.\d+)? ms, power \d+(\.\d+)? mW$/m)
    const bad = await rb.cli('compare', '--target', 'hw=stm32h743', '--baseline', join(dir, 'missing.json'))
    expect(bad.code).toBe(EXIT.USAGE)
    expect(bad.err).toContain('--baseline: cannot read')
    // The file matches its published schema; a file of another shape is refused before measuring.
    const schema = JSON.parse(readFileSync(join(import.meta.dirname, '../../docs/protocol/baseline.schema.json'), 'utf8')) as object
    const validate = new Ajv2020({ strict: false }).compile(schema)
    expect(validate(baseline) ? [] : validate.errors).toEqual([])
    const flat = join(dir, 'flat.json')
    writeFileSync(flat, JSON.stringify({ latencyMs: 8, energyMw: 200 }))
    const wrong = await rb.cli('compare', '--target', 'hw=stm32h743', '--baseline', flat)
    expect(wrong.code).toBe(EXIT.USAGE)
    expect(wrong.err).toContain(`--baseline: ${flat} is not a baseline file`)
    expect(wrong.err).toContain('format')
  })

  it('logs and logs --follow of one device; status --metric memory', async () => {
    const res = await rb.cli('logs', '--target', 'rb-1', '--lines', '5', '--json')
    expect(res.code).toBe(EXIT.OK)
    const lines = json(res.out).lines as { deviceId: string; msg: string }[]
    expect(lines.length).toBeGreaterThan(0)
    expect(lines.length).toBeLessThanOrEqual(5)
    const follow = await rb.cli('logs', '--target', 'rb-2', '--follow', '--follow-for', '400ms')
    expect(follow.code).toBe(EXIT.OK)
    expect(follow.out).toMatch(/rb-2 (info|warn|debug|error)/)
    const mem = await rb.cli('status', '--target', 'rb-1', '--metric', 'memory', '--json')
    expect(mem.code).toBe(EXIT.OK)
    expect(mem.out).toContain('rssBytes')
  })

  it('test --scenario end-to-end: golden vectors through every device', async () => {
    const all = await rb.cli('test', '--target', 'env=rb', '--scenario', 'end-to-end', '--allow-unreachable', '--json')
    expect(all.code).toBe(VERDICT_FAILED)
    const r = json(all.out)
    const passed = (r.results as { deviceId: string; passed: boolean }[]).filter((x) => x.passed).map((x) => x.deviceId)
    expect(passed.sort()).toEqual(['rb-1', 'rb-2', 'rb-3', 'rb-4'])
  })

  it('clear errors: unknown targets, bad flags, a registered device that never answers', async () => {
    const unknown = await rb.cli('verify', '--target', 'env=nowhere')
    expect(unknown.code).toBe(EXIT.NOT_FOUND)
    expect(unknown.err).toContain("the target 'env=nowhere' selects no registered devices")
    expect((await rb.cli('verify', '--target', 'env=rb', '--test-suite', 'bogus')).code).toBe(EXIT.USAGE)
    expect((await rb.cli('profile', '--target', 'env=rb', '--metric', 'heat')).code).toBe(EXIT.USAGE)
    expect((await rb.cli('profile', '--target', 'env=rb', '--metric', 'latency', '--samples', '5', '--duration', '1s')).code).toBe(
      EXIT.USAGE,
    )
    expect((await rb.cli('verify')).code).toBe(EXIT.USAGE)
    await rb.controller.registry.addMany([{ id: 'rb-ghost', labels: { env: 'ghost' } }])
    const ghost = await rb.cli('verify', '--target', 'rb-ghost', '--timeout', '600ms', '--json')
    expect(ghost.code).toBe(VERDICT_FAILED)
    expect(json(ghost.out).unreachable).toEqual([{ deviceId: 'rb-ghost', hardware: 'unknown', reason: 'timeout' }])
  })

  it('API: JSON reports, zod-validated bodies, scopes, OpenAPI', async () => {
    const call = api(rb.controller)
    const res = await call<Json>('POST', '/v1/runbook/test', { target: 'rb-2', timeoutMs: 5000 })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ verb: 'test', devices: 1, answered: 1, partial: false, verdict: 'pass', unreachable: [], errors: [] })
    const bad = await call<{ error: { code: string; message: string } }>('POST', '/v1/runbook/verify', {
      target: 'env=rb',
      suite: 'nope',
      extra: 1,
    })
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('API_INVALID_REQUEST')
    const unknown = await call<{ error: { code: string } }>('POST', '/v1/runbook/health', { target: 'ghost-device-x' })
    expect(unknown.status).toBe(422) // ROLLOUT_NO_DEVICES
    const token = (await call<{ token: string }>('POST', '/v1/tokens', { name: 'viewer', scopes: ['read'] })).body.token
    expect((await api(rb.controller, token)('POST', '/v1/runbook/verify', { target: 'env=rb' })).status).toBe(403)
    expect((await api(rb.controller, token)('POST', '/v1/runbook/health', { target: 'rb-1' })).status).toBe(200)
    const doc = (await (await fetch(`${rb.controller.url}/openapi.json`)).json()) as { paths: Record<string, unknown> }
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/runbook/verify', '/v1/runbook/compare', '/v1/runbook/logs']))
  })

  it('liquid-lln as a process: exit codes scripts can trust', async () => {
    const env = { LLN_API_URL: rb.controller.url, LLN_TOKEN: ADMIN }
    const [fail, pass] = await Promise.all([
      runLiquidLln(['verify', '--target', 'env=rb', '--test-suite', 'smoke'], env),
      runLiquidLln(['test', '--target', 'rb-1', '--scenario', 'end-to-end', '--json'], env),
    ])
    expect(fail.code).toBe(VERDICT_FAILED)
    expect(fail.out).toContain('verdict: FAIL')
    expect(pass.code).toBe(0)
    expect(json(pass.out).verdict).toBe('pass')
    // Two CLI processes started from source: a few seconds each on a quiet machine, far more on a loaded one.
  }, 120_000)
})
