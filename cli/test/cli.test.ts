import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { startFakeDevices } from '@liquid-edge/test/harness'
import { ADMIN, makePackage, testEnv } from '@liquid-edge/test/controller'
import { EXIT, runCli } from '../src/index.js'

function cli(url: string, token = ADMIN) {
  return async (...args: string[]) => {
    let out = ''
    let err = ''
    const code = await runCli(['--api-url', url, '--token', token, ...args], {
      stdout: (s) => (out += s),
      stderr: (s) => (err += s),
      env: {},
      isTTY: false,
    })
    return { code, out, err }
  }
}

describe('liquid-lln', () => {
  it('cli provisions, pushes, deploys, rolls back and exits 0 when the fleet answers', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const run = cli(c.url)
    const dir = mkdtempSync(join(tmpdir(), 'lln-cli-'))
    const v1 = join(dir, 'v1.liquid')
    const v2 = join(dir, 'new_model.liquid')
    writeFileSync(v1, makePackage(env.publisher, 'kws', '1.0.0'))
    writeFileSync(v2, makePackage(env.publisher, 'kws', '2.0.0'))
    const added = await run('device', 'add', 'cli-1', '--labels', 'env=staging,hw=stm32h743')
    expect(added.code).toBe(0)
    expect(added.out).toMatch(/secret \(shown once\): \S{20,}/)
    await run('device', 'add', 'cli-2', '--labels', 'env=staging,hw=rpi4', '--no-credential')
    expect((await run('model', 'push', v1)).code).toBe(0)
    await using _devices = await startFakeDevices({ url: env.broker.url, root: env.root }, ['cli-1', 'cli-2'])
    const first = await run('deploy', '--target', 'env=staging', '--model', 'kws@1.0.0', '--strategy', 'all', '--wait', '--timeout', '20s')
    expect(first.code).toBe(0)
    expect(first.out).toContain('completed')
    expect(first.err).toMatch(/^ {2}\d\d:\d\d:\d\d r-\S+ (created|running) step 1\/1: \d\/2 devices done/m) // progress when piped: plain lines
    const second = await run(
      'deploy',
      '--target',
      'hw in (stm32h743,rpi4)',
      '--model',
      v2,
      '--steps',
      '50,100',
      '--debug',
      '--min-accuracy',
      '80%',
      '--wait',
      '--json',
      '--timeout',
      '20s',
    )
    expect(second.code).toBe(0)
    const rollout = JSON.parse(second.out) as { id: string; state: string; policy: { debug: boolean; minAccuracy: number | null } }
    expect(rollout.state).toBe('completed')
    expect(rollout.policy.debug).toBe(true) // the devices' desired states carry it: verbose agent logs for this release
    expect(rollout.policy.minAccuracy).toBe(0.8) // the accuracy gate's minimum, instead of the package's
    const back = await run('rollback', '--rollout', rollout.id, '--to-previous', '--wait', '--timeout', '20s')
    expect(back.code).toBe(0)
    expect(back.out).toContain('rolling back 2 devices')
    const again = await run('rollback', '--rollout', rollout.id, '--to-previous')
    expect(again.out).toContain('nothing to roll back')
    const storage = await run('status', '--target', 'env=staging', '--metric', 'storage')
    expect(storage.code).toBe(0)
    expect(storage.out).toMatch(/cli-1 .*freeBytes/)
    const rollouts = await run('rollout', 'list')
    expect(rollouts.out).toContain(rollout.id)
    const shown = await run('rollout', 'show', rollout.id)
    expect(shown.out).toMatch(/cli-2 +\d+ +\d+ +succeeded/)
    const list = await run('device', 'list', '--target', 'env=staging')
    expect(list.out).toMatch(/cli-1 .* kws@1\.0\.0/)
  })

  it('cli deploy --until baking returns, exit 0, once the step passed its gate and bakes; the rollout goes on', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const run = cli(c.url)
    await run('device', 'add', 'bk-1', '--labels', 'env=staging', '--no-credential')
    await run('device', 'add', 'bk-2', '--labels', 'env=staging', '--no-credential')
    await c.models.push(makePackage(env.publisher, 'kws', '1.0.0'))
    await using _devices = await startFakeDevices({ url: env.broker.url, root: env.root }, ['bk-1', 'bk-2'])
    const args = ['deploy', '--target', 'env=staging', '--model', 'kws@1.0.0', '--strategy', 'all', '--bake', '10m']
    const baking = await run(...args, '--until', 'baking', '--json', '--timeout', '20s')
    expect(baking.code).toBe(0)
    const r = JSON.parse(baking.out) as { id: string; state: string; bakeUntil: number | null; counts: { succeeded: number } }
    expect(r).toMatchObject({ state: 'running', counts: { succeeded: 2 } })
    expect(r.bakeUntil).toBeGreaterThan(Date.now())
    expect((await c.repo.get(r.id)).state).toBe('running')
    // Without it, the same wait runs out while the rollout bakes: not done, not 0.
    await run('rollout', 'abort', r.id)
    const settled = await run(...args, '--timeout', '3s')
    expect(settled.code).toBe(EXIT.ROLLOUT_FAILED)
    expect((await run(...args, '--until', 'soon')).code).toBe(EXIT.USAGE)
  })

  it('cli gives a clear error and exit code for unknown targets, unknown models and bad flags', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const run = cli(c.url)
    await run('device', 'add', 'e-1', '--labels', 'env=staging', '--no-credential')
    const noModel = await run('deploy', '--target', 'env=staging', '--model', 'ghost@9.9.9')
    expect(noModel.code).toBe(EXIT.NOT_FOUND)
    expect(noModel.err).toContain('no model ghost@9.9.9')
    await c.models.push(makePackage(env.publisher, 'kws', '1.0.0'))
    const noTarget = await run('deploy', '--target', 'env=nowhere', '--model', 'kws@1.0.0')
    expect(noTarget.code).toBe(EXIT.NOT_FOUND)
    expect(noTarget.err).toContain("the target 'env=nowhere' selects no registered devices")
    // A deploy refused for its target leaves the model store as it was.
    const file = join(mkdtempSync(join(tmpdir(), 'lln-cli-')), 'new_model.liquid')
    writeFileSync(file, makePackage(env.publisher, 'kws', '3.0.0'))
    expect((await run('deploy', '--target', 'nowhere', '--model', file)).code).toBe(EXIT.NOT_FOUND)
    expect(await c.models.find('kws', '3.0.0')).toBeNull()
    const badSelector = await run('deploy', '--target', 'env=(x', '--model', 'kws@1.0.0')
    expect(badSelector.code).toBe(EXIT.USAGE)
    expect(badSelector.err).toContain('invalid selector')
    const badFlag = await run('deploy', '--target', 'env=staging', '--model', 'kws@1.0.0', '--bake', 'soon')
    expect(badFlag.code).toBe(EXIT.USAGE)
    expect(badFlag.err).toContain("--bake: 'soon' is not a duration")
    const badShare = await run('deploy', '--target', 'env=staging', '--model', 'kws@1.0.0', '--min-accuracy', 'high')
    expect(badShare.code).toBe(EXIT.USAGE)
    expect(badShare.err).toContain("--min-accuracy: 'high' is not a share between 0 and 1")
    const missing = await run('deploy', '--model', 'kws@1.0.0')
    expect(missing.code).toBe(EXIT.USAGE)
    expect((await run('rollback', '--to-previous')).code).toBe(EXIT.USAGE)
    expect((await run('rollout', 'show', 'r-nope')).code).toBe(EXIT.NOT_FOUND)
    expect((await run('model', 'push', '/nonexistent/x.liquid')).code).toBe(EXIT.NOT_FOUND)
    const reader = await c.tokens.create('viewer', ['read'])
    const denied = await cli(c.url, reader)('deploy', '--target', 'env=staging', '--model', 'kws@1.0.0')
    expect(denied.code).toBe(EXIT.AUTH)
    expect(denied.err).toContain("lacks the 'operate' scope")
    expect((await c.repo.list()).length).toBe(0)
  })

  it('cli names targets: groups, device ids and label values; an ambiguous word exits 2 with its candidates', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const run = cli(c.url)
    await c.registry.addMany([
      { id: 'g-1', labels: { env: 'production', hw: 'stm32h743', slot: 'green' } },
      { id: 'g-2', labels: { env: 'production', hw: 'x86-edge', slot: 'blue' } },
      { id: 'g-3', labels: { env: 'green' } },
    ])
    const added = await run('group', 'add', 'production-green', '--selector', 'env=production,slot=green')
    expect(added.code).toBe(0)
    expect(added.out).toContain('group production-green: env=production,slot=green (1 devices)')
    expect((await run('group', 'add', 'broken', '--selector', 'env=(x')).code).toBe(EXIT.USAGE)
    expect((await run('group', 'list')).out).toMatch(/production-green +env=production,slot=green +- +1/)
    expect((await run('group', 'show', 'production-green')).out).toContain('g-1')
    expect((await run('target', 'production-green')).out).toContain("'production-green' is a group")
    expect((await run('target', 'stm32h743')).out).toContain("'stm32h743' is the value of label 'hw'\nselector: hw=stm32h743\n1 devices")
    expect((await run('device', 'list', '--target', 'g-2')).out).toMatch(/g-2 /)
    const ambiguous = await run('device', 'list', '--target', 'green')
    expect(ambiguous.code).toBe(EXIT.USAGE)
    expect(ambiguous.err).toContain("'green' is ambiguous: it is a value of several labels; write one of env=green, slot=green")
    const unknown = await run('target', 'nowhere')
    expect(unknown.code).toBe(EXIT.NOT_FOUND)
    expect(unknown.err).toContain("the target 'nowhere' names nothing")
    expect((await run('group', 'remove', 'production-green')).code).toBe(0)
    expect((await run('group', 'show', 'production-green')).code).toBe(EXIT.NOT_FOUND)
  })
})
