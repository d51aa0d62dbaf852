import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { waitFor } from '@liquid-edge/test/harness'
import { startCli } from './support/cli.js'
import { startFleetEnv } from './support/fleet-env.js'

describe('liquid-agent simulate', () => {
  it('runs 200 devices that all connect, report and publish telemetry, with faults switched over HTTP', async () => {
    await using env = await startFleetEnv()
    const stateDir = mkdtempSync(join(tmpdir(), 'lln-sim-'))
    const config = join(stateDir, 'sim.json')
    writeFileSync(config, JSON.stringify({ telemetryWindowMs: 500, summaryMs: 500, rate: 2 }))
    await using sim = startCli(
      [
        'simulate',
        '--config',
        config,
        '--count',
        '200',
        '--profile',
        'stm32h743',
        '--broker',
        env.broker.url,
        '--root',
        env.root,
        '--state-dir',
        stateDir,
        '--id-prefix',
        'cli',
        '--control-port',
        '0',
      ],
      { LLN_PUBLISHER_KEYS: join(env.dir, 'models', 'publisher.pub.pem'), LLN_LOG_LEVEL: 'warn' },
    )
    const [, control] = await sim.waitForOutput(/fault control (http:\/\/\S+)/, 30_000)
    const ids = Array.from({ length: 200 }, (_, i) => `cli-${String(i + 1).padStart(4, '0')}`)
    await waitFor(() => ids.every((id) => env.observed.status.get(id)?.body.online && env.observed.reported.has(id)), {
      timeoutMs: 30_000,
      what: '200 online and reported',
    })
    await waitFor(() => ids.every((id) => (env.observed.telemetry.get(id)?.length ?? 0) >= 1), {
      timeoutMs: 20_000,
      what: 'telemetry from all 200',
    })
    await sim.waitForOutput(/online 200\/200 · idle 200 · telemetry \d/)

    const set = await fetch(`${control!}/faults`, { method: 'POST', body: JSON.stringify({ percent: 10, set: { latencyFactor: 3 } }) })
    expect(((await set.json()) as { changed: string[] }).changed).toHaveLength(20)
    const stats = (await (await fetch(`${control!}/stats`)).json()) as { faulty: number; online: number }
    expect(stats).toMatchObject({ faulty: 20, online: 200 })
    const faults = (await (await fetch(`${control!}/faults`)).json()) as { devices: Record<string, { latencyFactor: number }> }
    expect(faults.devices['cli-0001']?.latencyFactor).toBe(3)

    sim.child.kill('SIGINT')
    expect(await sim.exited).toBe(0)
    await waitFor(() => ids.every((id) => env.observed.status.get(id)?.body.online === false), { what: 'all offline after shutdown' })
  })
})
