import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { startFakeDevices } from '@liquid-edge/test/harness'
import { runCli } from '../src/cli/program.js'
import { EXIT } from '../src/cli/client.js'
import { ADMIN, makePackage, testEnv } from './helpers.js'

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
    const second = await run(
      'deploy',
      '--target',
      'hw in (stm32h743,rpi4)',
      '--model',
      v2,
      '--steps',
      '50,100',
      '--wait',
      '--json',
      '--timeout',
      '20s',
    )
    expect(second.code).toBe(0)
    const rollout = JSON.parse(second.out) as { id: string; state: string }
    expect(rollout.state).toBe('completed')
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
    const badSelector = await run('deploy', '--target', 'env=(x', '--model', 'kws@1.0.0')
    expect(badSelector.code).toBe(EXIT.USAGE)
    expect(badSelector.err).toContain('invalid selector')
    const badFlag = await run('deploy', '--target', 'env=staging', '--model', 'kws@1.0.0', '--bake', 'soon')
    expect(badFlag.code).toBe(EXIT.USAGE)
    expect(badFlag.err).toContain("--bake: 'soon' is not a duration")
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
})
