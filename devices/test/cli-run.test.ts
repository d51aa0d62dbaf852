import { mkdtempSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parsePackage } from '@liquid-edge/package'
import { describe, expect, it } from 'vitest'
import { waitFor } from '@liquid-edge/test/harness'
import { startCli } from './support/cli.js'
import { startFleetEnv } from './support/fleet-env.js'

describe('liquid-agent run', () => {
  it('runs an edge node that installs a model and serves inferences when the fleet deploys to it', async () => {
    await using env = await startFleetEnv()
    const stateDir = mkdtempSync(join(tmpdir(), 'lln-run-'))
    const args = ['run', '--device-id', 'edge-1', '--broker', env.broker.url, '--root', env.root, '--state-dir', stateDir]
    await using agent = startCli(
      [...args, '--driver', 'edge-node', '--publisher-key', join(env.dir, 'models', 'publisher.pub.pem'), '--http-port', '0'],
      {
        LLN_TELEMETRY_WINDOW_MS: '300',
        LLN_LOG_LEVEL: 'warn',
      },
    )
    const [, api] = await agent.waitForOutput(/local API (http:\/\/\S+)/)
    await waitFor(() => env.observed.status.get('edge-1')?.body.online, { what: 'edge-1 online' })
    const hardware = env.observed.status.get('edge-1')?.body.hardware ?? ''
    expect(hardware).toMatch(/-edge$/)
    // The demo budgets are an STM32's: this class has no energy budget (and may have no power meter).
    await env.deploy(['edge-1'], '1.0.0', 1, { budgets: { [hardware]: { energyBudgetMw: null } } })
    await waitFor(() => env.observed.reported.get('edge-1')?.body.phase === 'active', { timeoutMs: 20_000, what: 'v1 active' })

    const pkg = env.demo.packages[0]!
    const parsed = parsePackage(new Uint8Array(await readFile(join(env.dir, 'models', pkg.file))))
    if (!parsed.ok) throw new Error(parsed.message)
    const g = parsed.package.manifest.golden[0]!
    const res = await fetch(`${api!}/inference`, { method: 'POST', body: JSON.stringify({ input: g.input }) })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { output: number[]; modelVersion: string }
    expect(body.modelVersion).toBe('1.0.0')
    body.output.forEach((v, i) => {
      expect(Math.abs(v - g.output[i]!)).toBeLessThan(1e-4)
    })
    await waitFor(() => env.observed.telemetry.get('edge-1')?.some((t) => t.body.inferences >= 1 && t.body.model?.version === '1.0.0'), {
      what: 'telemetry counting it',
    })

    agent.child.kill('SIGTERM')
    expect(await agent.exited).toBe(0)
    await waitFor(() => env.observed.status.get('edge-1')?.body.online === false, { what: 'status offline after shutdown' })
  })

  it('exits with code 70 and leaves its Last Will when a simulated device is told to crash', async () => {
    await using env = await startFleetEnv()
    const stateDir = mkdtempSync(join(tmpdir(), 'lln-run-'))
    await using agent = startCli(
      [
        'run',
        '--device-id',
        'sim-crash',
        '--broker',
        env.broker.url,
        '--root',
        env.root,
        '--state-dir',
        stateDir,
        '--driver',
        'simulated',
        '--profile',
        'cortex-a53',
        '--control-port',
        '0',
      ],
      { LLN_PUBLISHER_KEYS: join(env.dir, 'models', 'publisher.pub.pem'), LLN_LOG_LEVEL: 'silent' },
    )
    const [, control] = await agent.waitForOutput(/fault control (http:\/\/\S+)/)
    await waitFor(() => env.observed.status.get('sim-crash')?.body.online, { what: 'online' })
    expect(env.observed.status.get('sim-crash')?.body.hardware).toBe('cortex-a53')
    const bad = await fetch(`${control!}/faults`, { method: 'POST', body: JSON.stringify({ set: { errorRate: 2 } }) })
    expect(bad.status).toBe(400)
    const res = await fetch(`${control!}/faults`, { method: 'POST', body: JSON.stringify({ set: { crash: true } }) }).catch(() => null)
    expect(res === null || res.status === 200).toBe(true)
    expect(await agent.exited).toBe(70)
    await waitFor(() => env.observed.status.get('sim-crash')?.body.online === false, { what: 'Last Will: offline' })
  })
})
