import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createProgram } from '../src/cli/program.js'
import { createTopics } from '@liquid-edge/protocol'
import { uniqueRoot, waitFor } from '@liquid-edge/test/harness'
import { desired, uid } from './fixtures.js'

const run = promisify(execFile)
const BIN = resolve(import.meta.dirname, '../src/bin/liquid-broker.ts')
let dir: string
let file: string

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lln-cli-'))
  file = join(dir, 'credentials.json')
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

/** Run `liquid-broker credentials …` in-process; returns what it printed. */
async function credentials(...args: string[]): Promise<{ out: string; err: string }> {
  let out = ''
  let err = ''
  const program = createProgram({
    env: {},
    stdout: (t) => (out += t),
    stderr: (t) => (err += t),
    stopSignal: () => new Promise(() => undefined),
  })
  program.exitOverride()
  await program.parseAsync(['credentials', ...args, '--credentials-file', file], { from: 'user' })
  return { out, err }
}

describe('liquid-broker', () => {
  it('credentials add prints the secret once and stores only its hash; list shows no secrets', async () => {
    const dev = uid()
    const { out: secret } = await credentials('add', dev, '--role', 'device')
    expect(secret.trim()).toMatch(/^[A-Za-z0-9_-]{43}$/)
    await credentials('add', 'gw-1', '--role', 'gateway', '--children', 'mcu-1,mcu-2')
    const { out: listing } = await credentials('list')
    expect(listing).toContain(`${dev}\tdevice`)
    expect(listing).toContain('gw-1\tgateway')
    expect(listing).toContain('children=mcu-1,mcu-2')
    const stored = await readFile(file, 'utf8')
    expect(stored).not.toContain(secret.trim())
    expect(stored).toMatch(/"hash": "scrypt\$32768\$8\$1\$/)
    await credentials('revoke', 'gw-1')
    expect((await credentials('list')).out).not.toContain('gw-1')
    await expect(credentials('add', dev)).rejects.toThrow(/exists/)
  })

  it('starts from the command line and works with mosquitto_pub / mosquitto_sub', async () => {
    const [dev, ctl] = [uid(), uid('ctl')]
    const devSecret = (await credentials('add', dev)).out.trim()
    const ctlSecret = (await credentials('add', ctl, '--role', 'controller')).out.trim()
    const root = uniqueRoot()
    const topics = createTopics(root)
    const args = ['--mqtt-port', '0', '--http-port', '0', '--host', '127.0.0.1', '--root', root, '--credentials-file', file]
    const child = spawn(process.execPath, ['--conditions=@liquid-edge/source', '--import', 'tsx', BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      let port = 0
      createInterface({ input: child.stdout }).on('line', (line) => {
        const entry = JSON.parse(line) as { msg?: string; ports?: { tcp?: number } }
        if (entry.msg === 'broker started') port = entry.ports?.tcp ?? 0
      })
      await waitFor(() => port > 0, { timeoutMs: 45_000, what: 'broker started log line' })
      const common = ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311']
      const sub = run('mosquitto_sub', [
        ...common,
        '-i',
        dev,
        '-u',
        dev,
        '-P',
        devSecret,
        '-t',
        topics.desired(dev),
        '-q',
        '1',
        '-C',
        '1',
        '-W',
        '15',
      ])
      await run('mosquitto_pub', [
        ...common,
        '-i',
        ctl,
        '-u',
        ctl,
        '-P',
        ctlSecret,
        '-t',
        topics.desired(dev),
        '-q',
        '1',
        '-r',
        '-m',
        desired(dev, 9).toString(),
      ])
      const { stdout } = await sub
      expect(JSON.parse(stdout)).toMatchObject({ deviceId: dev, body: { generation: 9 } })
      await expect(
        run('mosquitto_sub', [...common, '-i', dev, '-u', dev, '-P', 'wrong', '-t', topics.desired(dev), '-C', '1', '-W', '5']),
      ).rejects.toThrow()
    } finally {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      const [code] = (await exited) as [number | null]
      expect(code).toBe(0) // graceful shutdown
    }
  }, 60_000)
})
