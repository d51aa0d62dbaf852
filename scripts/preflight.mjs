#!/usr/bin/env node
// @ts-check
/**
 * `npm start` and `npm test` on a fresh clone: plain Node, no packages (it runs before they exist).
 *
 *   node scripts/preflight.mjs start [sandbox args…]   install if needed, make sure Redis answers, run the sandbox
 *   node scripts/preflight.mjs test  [vitest args…]    install if needed, make sure Redis, Mosquitto and NATS
 *                                                      answer, then lint, type-check, cycle check and vitest
 *
 * Dependencies: `npm ci` from the lockfile when `node_modules` is missing or older than package-lock.json.
 * Services: one that does not answer at its URL (default: the machine's standard port) is started
 * privately from the installed binary on a free loopback port, in `.lln/services/`, used through the
 * same environment variable, and stopped on exit. A missing binary ends the run with exit code 69
 * (EX_UNAVAILABLE) and the command that installs it.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const EXIT_MISSING_SERVICE = 69
const say = (/** @type {string} */ line) => process.stdout.write(`preflight: ${line}\n`)

/**
 * @typedef {{ name: string, env: string, url: string, binary: string, debian: string, mac: string,
 *   probe: (socket: import('node:net').Socket) => Promise<boolean>,
 *   args: (port: number, dir: string) => string[], scheme: string }} Service
 */

/** Reads from `socket` until `accept(text)` decides, the peer closes, or 1.5 s pass. */
function exchange(
  /** @type {import('node:net').Socket} */ socket,
  /** @type {string | null} */ send,
  /** @type {(t: string) => boolean | null} */ accept,
) {
  return new Promise((resolve) => {
    let text = ''
    const done = (/** @type {boolean} */ ok) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(ok)
    }
    const timer = setTimeout(() => done(false), 1500)
    socket.on('data', (d) => {
      text += d.toString('latin1')
      const verdict = accept(text)
      if (verdict !== null) done(verdict)
    })
    socket.on('close', () => done(false))
    socket.on('error', () => done(false))
    if (send !== null) socket.write(send)
  })
}

/** @type {Record<string, Service>} */
const SERVICES = {
  redis: {
    name: 'Redis',
    env: 'REDIS_URL',
    url: 'redis://127.0.0.1:6379',
    scheme: 'redis',
    binary: 'redis-server',
    debian: 'sudo apt-get install -y redis-server',
    mac: 'brew install redis',
    probe: (s) => exchange(s, 'PING\r\n', (t) => (t.includes('\r\n') ? t.startsWith('+PONG') || t.startsWith('-NOAUTH') : null)),
    args: (port, dir) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
  },
  mosquitto: {
    name: 'Mosquitto',
    env: 'LLN_MOSQUITTO_URL',
    url: 'mqtt://127.0.0.1:1883',
    scheme: 'mqtt',
    binary: 'mosquitto',
    debian: 'sudo apt-get install -y mosquitto',
    mac: 'brew install mosquitto',
    // CONNECT (MQTT 3.1.1, clean session, client id "lln-preflight"); CONNACK is 0x20 0x02.
    probe: (s) =>
      exchange(s, '\x10\x19\x00\x04MQTT\x04\x02\x00\x05\x00\x0dlln-preflight', (t) => (t.length >= 4 ? t.charCodeAt(0) === 0x20 : null)),
    args: (port, dir) => {
      const conf = join(dir, 'mosquitto.conf')
      writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`)
      return ['-c', conf]
    },
  },
  nats: {
    name: 'NATS with JetStream',
    env: 'NATS_URL',
    url: 'nats://127.0.0.1:4222',
    scheme: 'nats',
    binary: 'nats-server',
    debian: 'sudo apt-get install -y nats-server',
    mac: 'brew install nats-server',
    // The server greets with INFO {...}; the tests need JetStream on.
    probe: (s) => exchange(s, null, (t) => (t.includes('\r\n') ? t.startsWith('INFO') && /"jetstream"\s*:\s*true/.test(t) : null)),
    args: (port, dir) => ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir],
  },
}

/** Does a service of this kind answer at `url`? */
function answers(/** @type {Service} */ svc, /** @type {string} */ url) {
  let host = '127.0.0.1'
  let port = 0
  try {
    const u = new URL(url)
    host = u.hostname.replace(/^\[|\]$/g, '')
    port = Number(u.port || { redis: 6379, mqtt: 1883, nats: 4222 }[svc.scheme] || 0)
  } catch {
    return Promise.resolve(false)
  }
  return svc.probe(createConnection({ host, port }))
}

function isLoopback(/** @type {string} */ url) {
  try {
    return ['127.0.0.1', 'localhost', '[::1]', '::1'].includes(new URL(url).hostname)
  } catch {
    return false
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0))
    })
  })
}

function findBinary(/** @type {string} */ name) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/bin', '/opt/homebrew/bin']
  for (const d of dirs) if (d !== '' && existsSync(join(d, name))) return join(d, name)
  return null
}

/** @type {{ name: string, stop: () => Promise<void> }[]} */
const started = []

/** Start a private instance of `svc` on a free port; resolves with its URL once it answers. */
async function startPrivate(/** @type {Service} */ svc, /** @type {string} */ wanted) {
  const bin = findBinary(svc.binary)
  if (bin === null) {
    process.stderr.write(
      `\n${svc.name} does not answer at ${wanted}, and ${svc.binary} is not installed, so it cannot be started here.\n` +
        `Install it, then run the same command again:\n  Debian/Ubuntu: ${svc.debian}\n  macOS:         ${svc.mac}\n` +
        `(or point ${svc.env} at a running ${svc.name}).\n`,
    )
    await stopAll()
    process.exit(EXIT_MISSING_SERVICE)
  }
  const port = /** @type {number} */ (await freePort())
  const dir = join(ROOT, '.lln', 'services', `${svc.binary}-${process.pid}`)
  mkdirSync(dir, { recursive: true })
  const url = `${svc.scheme}://127.0.0.1:${port}`
  // Its own process group: a Ctrl-C meant for the sandbox must not stop the service under it.
  const child = spawn(bin, svc.args(port, dir), { cwd: dir, stdio: 'ignore', detached: true })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    }
    rmSync(dir, { recursive: true, force: true })
  }
  started.push({ name: svc.name, stop })
  const deadline = Date.now() + 15_000
  while (!(await answers(svc, url))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      process.stderr.write(`\ncould not start ${svc.binary} on 127.0.0.1:${port} (see ${dir}); start ${svc.name} yourself and retry.\n`)
      await stopAll()
      process.exit(EXIT_MISSING_SERVICE)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  say(`${svc.name} does not answer at ${wanted}: started a private ${svc.binary} at ${url} (stopped on exit)`)
  return url
}

async function stopAll() {
  while (started.length > 0) await started.pop()?.stop()
}

/** The URL to use for `svc`: the wanted one when it answers, else a private instance's. */
async function ensure(/** @type {Service} */ svc, /** @type {string} */ wanted) {
  if (await answers(svc, wanted)) return wanted
  if (!isLoopback(wanted)) {
    process.stderr.write(`\n${svc.name} does not answer at ${wanted}. Start it there, or unset ${svc.env} to use a local one.\n`)
    await stopAll()
    process.exit(EXIT_MISSING_SERVICE)
  }
  return startPrivate(svc, wanted)
}

/** `npm ci` when node_modules is missing or older than the lockfile. */
function ensureDependencies() {
  const lock = join(ROOT, 'package-lock.json')
  const installed = join(ROOT, 'node_modules', '.package-lock.json')
  if (existsSync(installed) && statSync(installed).mtimeMs >= statSync(lock).mtimeMs) return
  say(
    existsSync(installed)
      ? 'package-lock.json changed: reinstalling (npm ci)…'
      : 'installing dependencies from package-lock.json (npm ci, about 30 s)…',
  )
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const r = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: ROOT, stdio: 'inherit' })
  if (r.status !== 0) {
    process.stderr.write('\nnpm ci failed (see above). Fix the cause, then run the same command again.\n')
    process.exit(r.status ?? 1)
  }
  say('dependencies installed')
}

/** Run `cmd args` with `env`; on the first Ctrl-C/SIGTERM pass it on once, then wait for its exit. */
function run(/** @type {string} */ cmd, /** @type {string[]} */ args, /** @type {NodeJS.ProcessEnv} */ env) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: 'inherit', detached: true })
    let signalled = false
    const pass = (/** @type {NodeJS.Signals} */ sig) => {
      if (signalled) return
      signalled = true
      try {
        child.kill(sig)
      } catch {
        /* already gone */
      }
    }
    process.on('SIGINT', pass)
    process.on('SIGTERM', pass)
    child.once('exit', (code, signal) => {
      process.off('SIGINT', pass)
      process.off('SIGTERM', pass)
      resolve(code ?? (signal === 'SIGINT' ? 130 : 143))
    })
  })
}

const NODE = process.execPath
const SOURCE = ['--conditions=@liquid-edge/source', '--import', 'tsx']

async function main() {
  const [mode, ...args] = process.argv.slice(2)
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number)
  if (major < 20 || (major === 20 && minor < 19)) {
    process.stderr.write(`Liquid Edge needs Node.js 20.19 or newer (this is ${process.versions.node}).\n`)
    process.exit(1)
  }
  ensureDependencies()
  const env = { ...process.env }
  let code = 0
  if (mode === 'start') {
    const i = args.indexOf('--redis-url')
    const wanted = i >= 0 ? (args[i + 1] ?? '') : (process.env.LLN_REDIS_URL ?? SERVICES.redis.url)
    const url = await ensure(SERVICES.redis, wanted)
    env.LLN_REDIS_URL = url
    const rest = i >= 0 ? [...args.slice(0, i), ...args.slice(i + 2)] : args
    code = /** @type {number} */ (await run(NODE, [...SOURCE, 'test/sandbox/main.ts', '--redis-url', url, ...rest], env))
  } else if (mode === 'test') {
    for (const svc of Object.values(SERVICES)) env[svc.env] = await ensure(svc, process.env[svc.env] ?? svc.url)
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
    code = /** @type {number} */ (await run(npm, ['run', '--silent', 'check'], env))
    if (code === 0)
      code = /** @type {number} */ (await run(NODE, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...args], env))
  } else {
    process.stderr.write('usage: node scripts/preflight.mjs start|test [args…]\n')
    code = 2
  }
  await stopAll()
  process.exit(code)
}

await main()
