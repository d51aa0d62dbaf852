/**
 * The README's promise: on a fresh clone, with no `node_modules` and no Redis, Mosquitto or NATS where
 * they are looked for, `npm start -- --demo` and `npm test` are the first commands typed, and they work.
 *
 * The clone is a copy of this work tree's files (tracked and new, as `git ls-files` sees them) in a
 * temporary folder with a private HOME. The services are "stopped" by pointing their variables at
 * loopback ports where nothing listens. npm reads packages from the machine's npm cache (a fresh
 * machine would download the same files from the registry).
 */
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { createConnection } from 'node:net'
import { homedir, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REPO, freePort, runCommand } from '../sandbox/processes.js'

let root = ''
let clone = ''
let home = ''

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'lln-fresh-'))
  clone = join(root, 'liquid-edge')
  home = join(root, 'home')
  mkdirSync(home)
  const files = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO, encoding: 'utf8' })
  expect(files.status).toBe(0)
  for (const f of files.stdout.split('\0')) {
    if (f === '' || !existsSync(join(REPO, f))) continue
    mkdirSync(dirname(join(clone, f)), { recursive: true })
    cpSync(join(REPO, f), join(clone, f))
  }
  expect(existsSync(join(clone, 'node_modules'))).toBe(false)
})

// The clone holds a whole node_modules: removing it takes minutes on a loaded machine.
afterAll(async () => {
  if (root !== '') await rm(root, { recursive: true, force: true })
}, 5 * 60_000)

/** Is anything listening on this loopback port? */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => {
      resolve(false)
    })
  })
}

/** The environment of a new user's shell: no npm, vitest or service variables of ours. */
function userEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|VITEST|NODE_OPTIONS$|REDIS_URL$|NATS_URL$|LLN_)/i.test(k)) continue
    env[k] = v
  }
  return { ...env, HOME: home, npm_config_cache: join(homedir(), '.npm'), npm_config_prefer_offline: 'true', NO_COLOR: '1', ...extra }
}

/** `npm <args>` typed in the clone; past the deadline it gets Ctrl-C, then SIGKILL. */
const npm = (args: string[], env: NodeJS.ProcessEnv, deadlineMs: number) => runCommand('npm', args, { cwd: clone, env, deadlineMs })

describe('a fresh clone', () => {
  it(
    'npm start -- --demo installs, starts its own Redis, plays the demo, exits 0 and stops that Redis',
    async () => {
      const redisPort = await freePort()
      const r = await npm(['start', '--', '--demo'], userEnv({ LLN_REDIS_URL: `redis://127.0.0.1:${redisPort}` }), 8 * 60_000)
      expect(r.code, r.out).toBe(0)
      expect(r.out).toContain('preflight: installing dependencies from package-lock.json')
      const started = /started a private redis-server at redis:\/\/127\.0\.0\.1:(\d+)/.exec(r.out)
      expect(started, r.out).not.toBeNull()
      expect(await listening(Number(started?.[1]))).toBe(false)
      expect(r.out).not.toMatch(/npm warn EBADENGINE|install scripts not yet covered/i)
    },
    12 * 60_000,
  )

  it(
    'npm test then uses the installed packages and private Redis, Mosquitto and NATS',
    async () => {
      const [redis, mosquitto, nats] = [await freePort(), await freePort(), await freePort()]
      const env = userEnv({
        REDIS_URL: `redis://127.0.0.1:${redis}`,
        LLN_MOSQUITTO_URL: `mqtt://127.0.0.1:${mosquitto}`,
        NATS_URL: `nats://127.0.0.1:${nats}`,
      })
      const r = await npm(['test', '--', 'test/machine'], env, 14 * 60_000)
      expect(r.code, r.out).toBe(0)
      expect(r.out).not.toContain('installing dependencies')
      for (const bin of ['redis-server', 'mosquitto', 'nats-server']) expect(r.out).toContain(`started a private ${bin}`)
      expect(r.out).toMatch(/Tests\s+3 passed/)
    },
    15 * 60_000,
  )
})
