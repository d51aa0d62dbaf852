/**
 * Every command docker-compose.yml runs is one our executables accept as a plain process: the
 * executable exists (a package.json `bin`), every flag is in that command's `--help` (the real bin,
 * run from source as the e2e tests run it), every LLN_* variable is one its config reads, and the
 * resulting configuration passes the config schema. The container entrypoint's own steps are run
 * for real with sh.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parse } from 'yaml'
import { afterAll, describe, expect, it } from 'vitest'
import { FileCredentialStore, loadConfig as loadBrokerConfig, verifySecret } from '@liquid-edge/broker'
import { loadConfig as loadControllerConfig } from '@liquid-edge/controller'
import { BINS, commandPath, help, NODE_SOURCE, optionsOf, read, ROOT, SCRIPT_VARS, variablesOf } from './executables.js'

const run = promisify(execFile)

interface Service {
  build?: { target?: string }
  command?: string[]
  entrypoint?: string[]
  environment?: Record<string, string>
  volumes?: string[]
  depends_on?: Record<string, { condition: string }>
}
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> }
const ours = Object.entries(compose.services).filter(([, s]) => s.build !== undefined)

/** What the container runs: the entrypoint's arguments after `lln-entrypoint`, then the command. */
function argvOf(s: Service): string[] {
  const entry = s.entrypoint ?? ['lln-entrypoint']
  expect(entry[0]).toBe('lln-entrypoint')
  return [...entry.slice(1), ...(s.command ?? [])]
}

/** LLN_X set from files by the entrypoint (`ENTRYPOINT_ENV_FILES="LLN_X=/path …"`). */
function envFiles(s: Service): [string, string][] {
  const spec = s.environment?.ENTRYPOINT_ENV_FILES ?? ''
  return spec
    .split(/\s+/)
    .filter((p) => p !== '')
    .map((p) => [p.slice(0, p.indexOf('=')), p.slice(p.indexOf('=') + 1)])
}

describe('compose commands are the real executables', () => {
  it('uses only executables the packages ship, for every service built from our Dockerfile', () => {
    expect(ours.length).toBeGreaterThanOrEqual(5)
    for (const [name, s] of ours) expect([...BINS.keys()], name).toContain(argvOf(s)[0])
    const used = new Set(ours.map(([, s]) => argvOf(s)[0]))
    for (const bin of ['liquid-broker', 'liquid-controller', 'liquid-agent']) expect(used).toContain(bin)
    expect(ours.map(([, s]) => commandPath(argvOf(s)).join(' '))).toEqual(expect.arrayContaining(['simulate', 'start', 'run']))
  })

  it('passes only flags each command’s --help lists', async () => {
    const checks = ours.map(async ([name, s]) => {
      const argv = argvOf(s)
      const bin = argv[0] ?? ''
      const options = optionsOf(await help(bin, commandPath(argv)))
      expect([...options], `${name}: ${bin} --help was parsed`).toContain('--help')
      for (const flag of argv.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0] ?? a))
        expect([...options], `${name}: ${bin} ${commandPath(argv).join(' ')} accepts ${flag}`).toContain(flag)
    })
    await Promise.all(checks)
  }, 120_000)

  it('sets only LLN_* variables the executable reads, and only documented script variables otherwise', async () => {
    for (const [name, s] of ours) {
      const argv = argvOf(s)
      const bin = argv[0] ?? ''
      const known = await variablesOf(bin, commandPath(argv))
      const vars = [...Object.keys(s.environment ?? {}), ...envFiles(s).map(([v]) => v)]
      for (const v of vars) {
        if (v.startsWith('LLN_')) expect([...known], `${name}: ${bin} reads ${v}`).toContain(v)
        else expect([...SCRIPT_VARS], `${name}: ${v} is read by deploy/docker scripts`).toContain(v)
      }
    }
  }, 120_000)

  it('gives every broker and controller a configuration their schemas accept', () => {
    const env = (s: Service): Record<string, string> => ({
      ...Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')])),
      ...Object.fromEntries(envFiles(s).map(([k]) => [k, 'a-secret-from-a-file'])),
    })
    const brokers = ours.filter(([, s]) => argvOf(s)[0] === 'liquid-broker' && commandPath(argvOf(s)).length === 0)
    const controllers = ours.filter(([, s]) => argvOf(s)[0] === 'liquid-controller')
    expect(brokers.length).toBeGreaterThanOrEqual(2)
    expect(controllers.length).toBeGreaterThanOrEqual(2)
    for (const [name, s] of brokers) expect(loadBrokerConfig(env(s)).logLevel, name).toBe('info')
    const users = controllers.map(([name, s]) => {
      const config = loadControllerConfig(env(s))
      expect(config, name).toMatchObject({ httpHost: '0.0.0.0', mqttUrl: 'mqtt://mqtt:1883', mqttPassword: 'a-secret-from-a-file' })
      return config.mqttUsername
    })
    // The broker takes a controller's user name as its client id: two controllers, two names.
    expect(new Set(users).size).toBe(users.length)
    expect(() => loadControllerConfig({ ...env(compose.services.controller ?? {}), LLN_HTTP_PORT: 'eighty' })).toThrow(
      /invalid controller configuration/,
    )
  })

  it('reads every secret file from a volume a finished one-shot step wrote it to', () => {
    const mounts = (s: Service) => (s.volumes ?? []).map((v) => v.split(':') as [string, string, string?])
    const consumers = ours.filter(([, s]) => envFiles(s).length > 0)
    expect(consumers.map(([n]) => n)).toEqual(expect.arrayContaining(['controller', 'controller-2', 'edge-agent']))
    for (const [name, s] of consumers) {
      for (const [, file] of envFiles(s)) {
        const mount = mounts(s).find(([, target]) => file.startsWith(`${target}/`))
        expect(mount, `${name}: ${file} is on a volume`).toBeDefined()
        const producer = Object.entries(compose.services).find(
          ([, p]) =>
            p.environment?.ENTRYPOINT_ONCE_OUTPUT === file && mounts(p).some(([src, target]) => src === mount?.[0] && target === mount[1]),
        )
        expect(producer, `${name}: a one-shot writes ${file}`).toBeDefined()
        expect(s.depends_on?.[producer?.[0] ?? '']?.condition, `${name} waits for ${producer?.[0] ?? ''}`).toBe(
          'service_completed_successfully',
        )
      }
    }
  })
})

describe('the container entrypoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lln-entrypoint-'))
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  const entrypoint = join(ROOT, 'deploy/docker/entrypoint.sh')
  const sh = (env: Record<string, string>, ...argv: string[]) =>
    run('sh', [entrypoint, ...argv], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 })

  it('exports LLN_* variables from files, lets a set variable win, refuses other names and passes none of its own on', async () => {
    writeFileSync(join(dir, 'pw'), 's3cret\n')
    const show = ['sh', '-c', 'printf "%s|" "$LLN_MQTT_PASSWORD"; env | grep -c ^ENTRYPOINT_ || true']
    expect((await sh({ ENTRYPOINT_ENV_FILES: `LLN_MQTT_PASSWORD=${join(dir, 'pw')}` }, ...show)).stdout).toBe('s3cret|0\n')
    expect((await sh({ ENTRYPOINT_ENV_FILES: `LLN_MQTT_PASSWORD=${join(dir, 'pw')}`, LLN_MQTT_PASSWORD: 'given' }, ...show)).stdout).toBe(
      'given|0\n',
    )
    await expect(sh({ ENTRYPOINT_ENV_FILES: `PATH=${join(dir, 'pw')}` }, 'true')).rejects.toMatchObject({ code: 2 })
    await expect(sh({ ENTRYPOINT_ENV_FILES: `LLN_X=${join(dir, 'missing')}` }, 'true')).rejects.toMatchObject({ code: 2 })
  })

  it('puts the hostname into the fleet’s id prefix', async () => {
    const r = await sh({ ENTRYPOINT_ID_PREFIX_FROM_HOSTNAME: 'true', LLN_ID_PREFIX: 'sim' }, 'sh', '-c', 'printf %s "$LLN_ID_PREFIX"')
    expect(r.stdout).toBe(`sim-${hostname()}`)
  })

  it('runs the controller-credential step once: the secret liquid-broker prints is the one the store verifies', async () => {
    const store = join(dir, 'credentials.json')
    const out = join(dir, 'secrets', 'controller.secret')
    const add = [process.execPath, ...NODE_SOURCE, BINS.get('liquid-broker')?.source ?? '', 'credentials', 'add', 'liquid-controller']
    const flags = ['--role', 'controller', '--credentials-store', 'file', '--credentials-file', store]
    await sh({ ENTRYPOINT_ONCE_OUTPUT: out }, ...add, ...flags)
    const secret = readFileSync(out, 'utf8').trim()
    const record = await new FileCredentialStore(store).get('liquid-controller')
    expect(record?.role).toBe('controller')
    expect(await verifySecret(secret, record?.hash ?? '')).toBe(true)
    expect(await verifySecret(`${secret}x`, record?.hash ?? '')).toBe(false)
    // A second run does nothing (the credential exists; adding it again would fail).
    const again = await sh({ ENTRYPOINT_ONCE_OUTPUT: out }, ...add, ...flags)
    expect(again.stderr).toContain('nothing to do')
    expect(readFileSync(out, 'utf8').trim()).toBe(secret)
  }, 60_000)
})
