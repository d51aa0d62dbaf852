/**
 * Measurements on a simulated fleet with real processes (liquid-broker, liquid-controller,
 * liquid-agent simulate, liquid-lln): a healthy fleet passes every measuring verb, output faults make
 * `evaluate` fail with its code, a long energy profile completes on every device, and an interrupted
 * benchmark leaves every device answering.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as z from 'zod'
import { waitFor } from '@liquid-edge/test/harness'
import { apiGet } from '../sandbox/fleet.js'
import { nodeArgs, REPO } from '../sandbox/processes.js'
import type { Sandbox } from '../sandbox/sandbox.js'
import { MODEL, startScenario, type Operator, type Scenario } from './operator.js'

const ALL = 'env in (staging,production)'
const DEVICES = 6
let scenario: Scenario
let sandbox: Sandbox
let op: Operator

const ReportSchema = z.looseObject({
  verdict: z.string(),
  devices: z.number(),
  answered: z.number(),
  reasons: z.array(
    z.looseObject({
      code: z.string(),
      severity: z.string(),
      deviceId: z.string().optional(),
      values: z.record(z.string(), z.unknown()),
      text: z.string(),
    }),
  ),
})
const EvaluateSchema = ReportSchema.extend({
  overall: z.looseObject({ accuracy: z.number().nullable() }),
  minAccuracy: z.number().nullable(),
})
const JobsSchema = z.looseObject({
  jobs: z.array(
    z.looseObject({
      id: z.string(),
      state: z.string(),
      progress: z.looseObject({ measuring: z.number(), elapsedMs: z.number() }).nullable(),
    }),
  ),
})

async function report<S extends z.ZodType>(schema: S, args: string[], expectCode: number): Promise<z.output<S>> {
  const r = await op.lln(['--json', ...args])
  expect(r.code, `liquid-lln ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(expectCode)
  return schema.parse(JSON.parse(r.stdout))
}

beforeAll(async () => {
  scenario = await startScenario('measure', {
    fleet: [
      { idPrefix: 'm-stm32', count: 3, profile: 'stm32h743', labels: { env: 'staging', hw: 'stm32h743' } },
      { idPrefix: 'm-edge', count: 3, profile: 'x86-edge', labels: { env: 'production', hw: 'x86-edge' } },
    ],
    telemetryWindowMs: 500,
  })
  ;({ sandbox, op } = scenario)
  // 1.1.0: its evaluation set carries noisy labels (28 of 32 right when the model runs as it should).
  const deployed = await op.lln(['deploy', '--target', ALL, '--model', `${MODEL}@1.1.0`, '--strategy', 'all', '--trial', '2s', '--wait'])
  expect(deployed.code, deployed.stderr).toBe(0)
}, 240_000)

afterAll(() => scenario.close(), 60_000)

describe('measurements on a simulated fleet', () => {
  it('passes verify (integration), the end-to-end test, profile and evaluate on a healthy mixed fleet', async () => {
    for (const args of [
      ['verify', '--target', ALL, '--test-suite', 'integration'],
      ['test', '--target', ALL, '--scenario', 'end-to-end'],
      ['profile', '--target', ALL, '--metric', 'latency', '--samples', '200'],
    ]) {
      const r = await report(ReportSchema, args, 0)
      expect(r.verdict).toBe('pass')
      expect(r.answered).toBe(DEVICES)
    }
    const energy = await report(ReportSchema, ['profile', '--target', ALL, '--metric', 'energy', '--duration', '3'], 0)
    expect(energy.verdict).toBe('pass')
    // Back to back every device draws more than its class's average budget: said once per class, not judged.
    const notes = energy.reasons
      .filter((x) => x.code === 'VERDICT_POWER_BACK_TO_BACK')
      .sort((a, b) => String(a.values.hardware).localeCompare(String(b.values.hardware)))
    expect(notes.map((x) => [x.severity, x.values.hardware, x.values.count, x.values.devices])).toEqual([
      ['note', 'stm32h743', 3, 3],
      ['note', 'x86-edge', 3, 3],
    ])
    const evaluated = await report(EvaluateSchema, ['evaluate', '--target', ALL, '--dataset', 'validation'], 0)
    // The model really runs: the noisy labels cost accuracy (28 of 32), above the package's 0.75 minimum.
    expect(evaluated.overall.accuracy).toBe(0.875)
  }, 120_000)

  it('fails evaluate with VERDICT_ACCURACY_LOW when output faults are injected through the fault endpoint', async () => {
    await op.faults({ outputBias: 5 }, { count: 2 })
    try {
      const r = await report(EvaluateSchema, ['evaluate', '--target', ALL, '--dataset', 'validation'], 7)
      expect(r.verdict).toBe('fail')
      const low = r.reasons.filter((x) => x.code === 'VERDICT_ACCURACY_LOW')
      expect(low.map((x) => x.deviceId).sort()).toEqual(['m-edge-0001', 'm-edge-0002', 'm-stm32-0001', 'm-stm32-0002'])
      expect(low.every((x) => x.severity === 'fail')).toBe(true)
    } finally {
      await op.faults(null)
    }
    const text = await op.lln(['evaluate', '--target', ALL, '--dataset', 'holdout-b'])
    expect(text.code).toBe(7)
    // The root cause in plain text, not only a code: the package carries a set under another name.
    expect(text.stdout).toMatch(/AGENT_NO_DATASET: cfc-sense@1\.1\.0 has no evaluation set 'holdout-b'/)
  }, 60_000)

  it("completes the runbook's 60 s energy profile on every simulated device", async () => {
    const r = await report(ReportSchema, ['profile', '--target', ALL, '--metric', 'energy', '--duration', '60'], 0)
    expect(r.answered).toBe(DEVICES)
  }, 240_000)

  it('leaves every device answering within 2 s while a benchmark measures and once it is interrupted after 5 s', async () => {
    const child = spawn(process.execPath, nodeArgs('liquid-lln', ['benchmark', '--target', ALL, '--duration', '3600']), {
      cwd: REPO,
      env: { ...process.env, ...sandbox.cliEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let err = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
    const exited = once(child, 'exit')
    const running = await waitFor(
      async () => {
        const jobs = (await apiGet(sandbox, '/v1/runbook/jobs', JobsSchema)).jobs
        return jobs.find((j) => j.state === 'active' && (j.progress?.measuring ?? 0) === DEVICES && (j.progress?.elapsedMs ?? 0) >= 5000)
      },
      { timeoutMs: 30_000, what: 'a benchmark measuring on every device for 5 s' },
    )
    // While it measures, the devices keep answering: the measurement takes a quarter of their time.
    const during = await report(ReportSchema, ['status', '--target', ALL, '--metric', 'slots', '--timeout', '2s'], 0)
    expect(during.answered).toBe(DEVICES)
    child.kill('SIGINT')
    const [code] = (await exited) as [number | null]
    expect(code, err).toBe(130)
    expect(err).toContain(`benchmark ${running.id} cancelled`)
    const status = await report(ReportSchema, ['status', '--target', ALL, '--metric', 'slots', '--timeout', '2s'], 0)
    expect(status.answered).toBe(DEVICES)
    const job = await waitFor(
      async () => (await apiGet(sandbox, '/v1/runbook/jobs', JobsSchema)).jobs.find((j) => j.id === running.id && j.state === 'cancelled'),
      {
        timeoutMs: 10_000,
        what: 'the job to end cancelled',
      },
    )
    expect(job.state).toBe('cancelled')
  }, 90_000)
})
