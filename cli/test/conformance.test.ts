import { describe, expect, it } from 'vitest'
import { ADMIN, testEnv } from '@liquid-edge/test/controller'
import { EXIT, runCli } from '../src/index.js'

/* A whole run against real devices is in test/conformance/ (our three device kinds, the Python device). */

function cli(url: string) {
  return async (...args: string[]) => {
    let out = ''
    let err = ''
    const code = await runCli(['--api-url', url, '--token', ADMIN, 'conformance', ...args], {
      stdout: (s) => (out += s),
      stderr: (s) => (err += s),
      env: {},
      isTTY: false,
    })
    return { code, out, err }
  }
}

describe('liquid-lln conformance', () => {
  it('lists the checks in order with their clauses, and refuses what it cannot run with the exit code scripts expect', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const run = cli(c.url)
    const listed = await run('--list')
    expect(listed.code).toBe(EXIT.OK)
    expect(listed.out.split('\n')[0]).toMatch(/^CHECK\s+CLAUSE\s+OFFLINE\s+WHAT$/)
    expect(listed.out).toMatch(/^session\.will\s+§2\.5\s+yes\s+cut off abruptly/m)
    expect(listed.out).toMatch(/^signature\.forged\s+§8\.2\s+a package whose signature/m)

    const json = JSON.parse((await run('--list', '--json')).out) as { checks: { id: string }[] }
    expect(json.checks[0]?.id).toBe('session.status')

    const none = await run()
    expect([none.code, none.err]).toEqual([EXIT.USAGE, 'error: give --device <id> (or --list)\n'])
    const badSkip = await run('--device', 'x-1', '--skip', 'offline,no.such')
    expect(badSkip.code).toBe(EXIT.USAGE)
    expect(badSkip.err).toContain('--skip: no check no.such')
    const badModels = await run('--device', 'x-1', '--models', 'kws@1.0.0')
    expect(badModels.code).toBe(EXIT.USAGE)

    const unknown = await run('--device', 'no-such-device')
    expect(unknown.code).toBe(EXIT.NOT_FOUND)
    expect(unknown.err).toContain('REGISTRY_DEVICE_NOT_FOUND')
    await c.registry.addMany([{ id: 'asleep-1', labels: {} }])
    const asleep = await run('--device', 'asleep-1')
    expect(asleep.code).toBe(EXIT.CONFLICT)
    expect(asleep.err).toMatch(/asleep-1 is not online; start it .* \(REGISTRY_DEVICE_OFFLINE\)/)
  }, 60_000)
})
