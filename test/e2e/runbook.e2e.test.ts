/**
 * The deployment runbook end to end, with real processes: liquid-broker, liquid-controller,
 * liquid-agent simulate and liquid-lln, on the machine's Redis. One sandbox serves the scenarios
 * in order, as an operator would run them on one fleet.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as z from 'zod'
import { REDIS_URL, uniquePrefix, waitFor } from '@liquid-edge/test/harness'
import { listDevices, waitForFleet } from '../sandbox/fleet.js'
import { run } from '../sandbox/processes.js'
import { startSandbox, type Sandbox } from '../sandbox/sandbox.js'

const MODEL = 'cfc-sense'
const ALL = 'env in (staging,production)'
let sandbox: Sandbox
let dir: string

const lln = (args: string[], timeoutMs = 180_000) => run('liquid-lln', args, { env: sandbox.cliEnv, timeoutMs })
const RolloutSchema = z.looseObject({
  id: z.string(),
  state: z.string(),
  counts: z.looseObject({ cohort: z.number(), succeeded: z.number() }),
})
async function rollout(id: string) {
  return RolloutSchema.parse(JSON.parse((await lln(['--json', 'rollout', 'show', id])).stdout))
}
async function versions(): Promise<Record<string, string | null>> {
  return Object.fromEntries((await listDevices(sandbox)).map((d) => [d.id, d.active]))
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lln-e2e-'))
  sandbox = await startSandbox({
    redisUrl: REDIS_URL,
    dir,
    prefix: uniquePrefix('e2e'),
    fleet: [
      { idPrefix: 'e2e-stm32', count: 4, profile: 'stm32h743', labels: { env: 'staging', hw: 'stm32h743' } },
      { idPrefix: 'e2e-edge', count: 4, profile: 'x86-edge', labels: { env: 'production', hw: 'x86-edge' } },
    ],
    telemetryWindowMs: 500,
    rulesTimeScale: 0.05,
    rulesEvalMs: 500,
  })
  await waitForFleet(sandbox, 8, () => undefined)
}, 240_000)

afterAll(async () => {
  await sandbox.close()
  if (process.env.LLN_E2E_KEEP === undefined) rmSync(dir, { recursive: true, force: true })
}, 60_000)

describe('the deployment runbook on a simulated fleet', () => {
  it('deploys to the whole fleet and verifies it (smoke)', async () => {
    const deployed = await lln([
      'deploy',
      '--target',
      ALL,
      '--model',
      `${MODEL}@1.0.0`,
      '--strategy',
      'all',
      '--trial',
      '2s',
      '--wait',
      '--timeout',
      '3m',
    ])
    expect(deployed.code, deployed.stderr).toBe(0)
    expect(Object.values(await versions())).toEqual(Array(8).fill(`${MODEL}@1.0.0`))
    const verified = await lln(['--json', 'verify', '--target', ALL, '--test-suite', 'smoke'])
    expect(verified.code, verified.stdout + verified.stderr).toBe(0)
    expect(JSON.parse(verified.stdout)).toMatchObject({ verdict: 'pass' })
  }, 240_000)

  it('rolls out 25% then 100% of every hardware class', async () => {
    const r = await lln([
      '--json',
      'deploy',
      '--target',
      ALL,
      '--model',
      `${MODEL}@1.1.0`,
      '--steps',
      '25,100',
      '--stratify',
      'hw',
      '--bake',
      '2s',
      '--trial',
      '2s',
      '--wait',
      '--timeout',
      '3m',
    ])
    expect(r.code, r.stderr).toBe(0)
    expect(Object.values(await versions())).toEqual(Array(8).fill(`${MODEL}@1.1.0`))
  }, 240_000)

  it('rolls back one environment to the previous model and leaves the other alone', async () => {
    const r = await lln(['rollback', '--target', 'env=staging', '--to-previous', '--wait', '--timeout', '3m'])
    expect(r.code, r.stderr).toBe(0)
    const now = await versions()
    for (const [id, active] of Object.entries(now))
      expect(active, id).toBe(id.startsWith('e2e-stm32') ? `${MODEL}@1.0.0` : `${MODEL}@1.1.0`)
    // Rolling back to that version again touches nothing: every staging device is already there.
    const again = await lln(['rollback', '--target', 'env=staging', '--to-version', '1.0.0', '--model', MODEL, '--wait', '--timeout', '1m'])
    expect(again.code, again.stderr).toBe(0)
    expect(await versions()).toEqual(now)
  }, 240_000)

  it('resumes a rollout when the controller is killed mid-step', async () => {
    const started = await lln([
      '--json',
      'deploy',
      '--target',
      'env=staging',
      '--model',
      `${MODEL}@1.1.0`,
      '--steps',
      '50,100',
      '--bake',
      '3s',
      '--trial',
      '2s',
    ])
    expect(started.code, started.stderr).toBe(0)
    const { id } = RolloutSchema.parse(JSON.parse(started.stdout))
    let last: unknown
    await waitFor(
      async () => {
        const r = await rollout(id)
        last = r
        return r.counts.succeeded > 0
      },
      { timeoutMs: 120_000, what: 'the first step to make progress' },
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}; rollout: ${JSON.stringify(last)}`)
    })
    await sandbox.restartController(true)
    const done = await waitFor(async () => ((await rollout(id)).state === 'completed' ? true : null), {
      timeoutMs: 180_000,
      what: 'the rollout to complete after the restart',
    })
    expect(done).toBe(true)
    const final = await rollout(id)
    for (const [deviceId, active] of Object.entries(await versions()))
      expect(active, `${deviceId} after ${JSON.stringify(final)}`).toBe(`${MODEL}@1.1.0`)
  }, 300_000)

  it('rolls a latency regression back automatically, with the evidence in the audit stream', async () => {
    const started = await lln([
      '--json',
      'deploy',
      '--target',
      ALL,
      '--model',
      `${MODEL}@2.0.0`,
      '--steps',
      '50,100',
      '--stratify',
      'hw',
      '--bake',
      '10m',
      '--trial',
      '2s',
    ])
    expect(started.code, started.stderr).toBe(0)
    const { id } = RolloutSchema.parse(JSON.parse(started.stdout))
    await waitFor(
      async () => {
        const r = await rollout(id)
        return r.counts.cohort > 0 && r.counts.succeeded >= r.counts.cohort
      },
      { timeoutMs: 120_000, what: 'the first step to succeed' },
    )
    // 2.0.0 regresses: every inference of that version (only) gets 10x slower on the simulated devices.
    for (const url of Object.values(sandbox.control)) {
      const res = await fetch(`${url}/faults`, {
        method: 'POST',
        body: JSON.stringify({ percent: 100, set: { latencyFactor: 10, modelVersion: '2.0.0' } }),
      })
      expect(res.ok).toBe(true)
    }
    await waitFor(async () => (await rollout(id)).state === 'rolled-back', {
      timeoutMs: 120_000,
      what: 'the latency rule to roll the rollout back',
    })
    const events = await lln(['--json', 'events', '--rollout', id])
    expect(events.code, events.stderr).toBe(0)
    // One JSON event per line: the decision names the rule and carries its evidence.
    const decisions = events.stdout
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as { event: string; evidence?: { rule: string; devices: string[]; sampleSize: number } })
      .filter((e) => e.event === 'decision')
    expect(decisions).toHaveLength(1)
    expect(decisions[0]?.evidence?.rule).toMatch(/latency/)
    expect(decisions[0]?.evidence?.devices.length).toBeGreaterThan(0)
    await waitFor(async () => Object.values(await versions()).every((v) => v !== `${MODEL}@2.0.0`), {
      timeoutMs: 180_000,
      what: 'the canary devices to leave 2.0.0',
    })
  }, 420_000)
})
