import { spawn, type ChildProcess } from 'node:child_process'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest'
import { AgentStateSchema } from '../src/state/agent-state.js'
import { startPlainBroker, waitFor, type FakeFaults, type PlainBroker } from '@liquid-edge/test/harness'
import { createFixture, type Fixture } from './support/fixture.js'

let broker: PlainBroker
beforeAll(async () => {
  broker = await startPlainBroker()
})
afterAll(async () => {
  await broker.close()
})

const SCRIPT = join(import.meta.dirname, 'support', 'agent-process.ts')

interface Child {
  proc: ChildProcess
  lines: Record<string, unknown>[]
  exited: Promise<void>
}

/** Spawn a real agent process the way devices/ runs `liquid-agent` from source. */
function spawnAgent(ctx: TestContext, fx: Fixture, faultsByVersion: Record<string, FakeFaults> = {}): Child {
  const config = {
    deviceId: fx.deviceId,
    root: fx.root,
    stateDir: fx.stateDir,
    brokerUrl: broker.url,
    publicKeyPem: fx.keys.publicKeyPem,
    faultsByVersion,
  }
  const proc = spawn(process.execPath, ['--conditions=@liquid-edge/source', '--import', 'tsx', SCRIPT, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const lines: Record<string, unknown>[] = []
  createInterface({ input: proc.stdout }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>)
    } catch {
      // not ours
    }
  })
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      resolve()
    }),
  )
  const child = { proc, lines, exited }
  ctx.onTestFinished(async () => {
    if (proc.exitCode === null && proc.signalCode === null) await kill(child)
  })
  return child
}

async function kill(child: Child): Promise<void> {
  child.proc.kill('SIGKILL')
  await child.exited
}

async function stop(child: Child): Promise<void> {
  child.proc.kill('SIGTERM')
  await child.exited
}

/** The state file after a crash must parse and name a runnable active model. */
async function persistedState(fx: Fixture) {
  return AgentStateSchema.parse(JSON.parse(await readFile(join(fx.stateDir, 'agent-state.json'), 'utf8')))
}

async function onV1(ctx: TestContext, fx: Fixture, faults: Record<string, FakeFaults> = {}): Promise<Child> {
  const child = spawnAgent(ctx, fx, faults)
  await fx.desired(1, fx.model({ version: '1.0.0' }))
  await fx.waitPhase('active', 1, 40_000)
  return child
}

// Concurrent: each test spends most of its time waiting for child processes to start.
// Generous timeout: each test starts two agent processes (tsx), slow on a loaded 2-core machine.
describe.concurrent('agent crash safety (killed child process)', { timeout: 90_000 }, () => {
  it('resumes an interrupted download with a Range request after a kill', async (ctx) => {
    await using fx = await createFixture(broker.url)
    const first = await onV1(ctx, fx)
    const v2 = fx.model({ version: '2.0.0' })
    fx.artifacts.stallAfterBytes = 200
    await fx.desired(2, v2)
    await fx.waitPhase('downloading', 2, 40_000)
    const part = join(fx.stateDir, 'downloads', `${v2.sha256}.part`)
    await waitFor(async () => (await stat(part).catch(() => null))?.size === 200, { what: 'a partial download', timeoutMs: 40_000 })
    await kill(first)
    const crashed = await persistedState(fx)
    expect(crashed.active).not.toBeNull()
    expect(crashed.slots[crashed.active ?? 'a']?.version).toBe('1.0.0')
    fx.artifacts.stallAfterBytes = null
    const second = spawnAgent(ctx, fx)
    await waitFor(() => second.lines.find((l) => l.phase === 'active' && l.generation === 2), { timeoutMs: 40_000 })
    expect(second.lines.find((l) => l.ready === true)).toMatchObject({ ready: true, active: '1.0.0' })
    expect(fx.artifacts.requests.filter((r) => r.path.endsWith('2.0.0.liquid')).at(-1)?.range).toBe('bytes=200-')
    // The kill is reported: the controller's crash rule counts it.
    expect(fx.events.filter((e) => e.event === 'crashed')).toHaveLength(1)
    await stop(second)
    expect((await persistedState(fx)).running).toBe(false)
  })

  it('recovers a kill during staging: the old model still runs, then the update completes', async (ctx) => {
    await using fx = await createFixture(broker.url)
    const first = await onV1(ctx, fx, { '2.0.0': { hangLoad: true } })
    await fx.desired(2, fx.model({ version: '2.0.0' }))
    await waitFor(() => first.lines.find((l) => l.load === '2.0.0'), { what: 'staging of 2.0.0', timeoutMs: 40_000 })
    await kill(first)
    const crashed = await persistedState(fx)
    expect(crashed.slots[crashed.active ?? 'a']?.version).toBe('1.0.0')
    expect(Object.values(crashed.slots).filter((s) => s?.version === '2.0.0')).toEqual([])
    const second = spawnAgent(ctx, fx)
    await waitFor(() => second.lines.find((l) => l.phase === 'active' && l.generation === 2), { timeoutMs: 40_000 })
    expect(second.lines.find((l) => l.ready === true)).toMatchObject({ ready: true, active: '1.0.0' })
    expect(second.lines.at(-1)).toMatchObject({ active: '2.0.0' })
    await stop(second)
  })

  it('counts a trial interrupted by a kill as failed and reverts at start (AGENT_TRIAL_INTERRUPTED)', async (ctx) => {
    await using fx = await createFixture(broker.url)
    const first = await onV1(ctx, fx)
    await fx.desired(2, fx.model({ version: '2.0.0' }), { policy: { trialMs: 60_000, latencyThresholdMs: 5 } })
    await waitFor(() => first.lines.find((l) => l.phase === 'trial' && l.active === '2.0.0'), { timeoutMs: 40_000 })
    await kill(first)
    expect((await persistedState(fx)).trial).not.toBeNull()
    const second = spawnAgent(ctx, fx)
    await waitFor(() => second.lines.find((l) => l.ready === true), { timeoutMs: 40_000 })
    expect(second.lines.find((l) => l.ready === true)).toMatchObject({
      active: '1.0.0',
      phase: 'reverted',
      code: 'AGENT_TRIAL_INTERRUPTED',
    })
    const reported = await fx.waitPhase('reverted', 2, 40_000)
    expect(reported.error?.code).toBe('AGENT_TRIAL_INTERRUPTED')
    expect(reported.slots.map((s) => [s.role, s.model.version])).toEqual([['active', '1.0.0']])
    // the retained desired state of generation 2 is not applied again
    await fx.command({ kind: 'ping', expiresAt: Date.now() + 5000 }, 'after-restart')
    await fx.waitReply('after-restart', 40_000)
    expect(second.lines.filter((l) => l.load === '2.0.0')).toEqual([])
    await stop(second)
  })
})
