/**
 * The second device implementation, written from docs/ alone: examples/python-device (Python 3,
 * standard library only — its own MQTT client, Ed25519 and ONNX interpreter) passes the
 * conformance kit, run through `liquid-lln conformance` as an operator would; each deliberately
 * broken variant (`--break <clause>`) fails exactly the check of the clause it breaks.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTcpProxy, waitFor, type TcpProxy } from '@liquid-edge/test/harness'
import { kitRig, notPassedRows, type KitRig } from './rig.js'

const EXAMPLE = fileURLToPath(new URL('../../examples/python-device/', import.meta.url))

let rig: KitRig
let dir: string
let keyFile: string
beforeAll(async () => {
  // The packages' publisher budgets the Python device's class as its own: pure Python runs the CfC
  // model in about 0.5 ms on an idle host, and many times that on this shared, busy one.
  rig = await kitRig({ budgets: { 'python-host': { latencyThresholdMs: 250 } } })
  dir = await mkdtemp(join(tmpdir(), 'lln-pydev-'))
  keyFile = join(dir, 'publisher.pem')
  await writeFile(keyFile, rig.publicKeyPem)
})
afterAll(async () => {
  await rig.close()
  await rm(dir, { recursive: true, force: true })
})

interface PythonDevice extends AsyncDisposable {
  readonly id: string
  readonly proxy: TcpProxy
  /** What the device logged (stderr), for assertion messages. */
  log(): string
}

/** Register a device, start `python3 -m liquid_device` through a proxy the test can cut, wait until it is online. */
async function pythonDevice(name: string, breaks: readonly string[] = []): Promise<PythonDevice> {
  const id = `py-${name}-${Date.now().toString(36)}`
  const secret = await rig.device(id)
  const proxy = await startTcpProxy(rig.broker.port)
  const stateDir = join(dir, id)
  const args = ['-m', 'liquid_device', '--id', id, '--broker', proxy.url, '--root', rig.broker.root, '--state-dir', stateDir]
  args.push('--publisher-key', keyFile, '--window-ms', '250', '--keepalive', '5', '--reconnect-max-s', '1')
  for (const b of breaks) args.push('--break', b)
  const child: ChildProcess = spawn('python3', args, {
    cwd: EXAMPLE,
    env: { ...process.env, LLN_DEVICE_SECRET: secret, PYTHONUNBUFFERED: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let log = ''
  child.stderr?.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-20_000)))
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      await exited
    }
    await proxy.close()
  }
  try {
    await waitFor(async () => (await rig.controller.live.views([id]))[0]?.status?.online === true, {
      what: `${id} online`,
      timeoutMs: 30_000,
    })
  } catch (err) {
    await close()
    throw new Error(`${String(err)}\n${log}`)
  }
  return { id, proxy, log: () => log, [Symbol.asyncDispose]: close }
}

/** True while process `pid` exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('the Python device from the docs alone', () => {
  it('passes with its outage a power cut and a reboot, run by --disconnect-command and --reconnect-command', async () => {
    // What a lab does with a switched power outlet: kill -9 is the cut, a fresh process the reboot.
    // The device comes back from its state on disk alone: session, generation, slots, telemetry seq.
    const id = `py-reboot-${Date.now().toString(36)}`
    const secret = await rig.device(id)
    const stateDir = join(dir, id)
    const pidFile = join(dir, `${id}.pid`)
    const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`
    const args = ['--id', id, '--broker', rig.broker.url, '--root', rig.broker.root, '--state-dir', stateDir, '--publisher-key', keyFile]
    args.push('--window-ms', '250', '--keepalive', '5', '--reconnect-max-s', '1')
    const boot = [
      `cd ${q(EXAMPLE)} &&`,
      `PATH=${q(process.env.PATH ?? '')} LLN_DEVICE_SECRET=${q(secret)}`,
      `python3 -m liquid_device ${args.map(q).join(' ')} >> ${q(join(dir, `${id}.log`))} 2>&1 &`,
      `echo $! > ${q(pidFile)}`,
    ].join(' ')
    const pid = async (): Promise<number> => Number((await readFile(pidFile, 'utf8')).trim())
    execFileSync('/bin/sh', ['-c', boot])
    const first = await pid()
    try {
      await waitFor(async () => (await rig.controller.live.views([id]))[0]?.status?.online === true, {
        what: `${id} online`,
        timeoutMs: 30_000,
      })
      const { code, out, err } = await rig.cli(
        id,
        null,
        '--disconnect-command',
        `kill -9 "$(cat ${q(pidFile)})"`,
        '--reconnect-command',
        boot,
      )
      const log = await readFile(join(dir, `${id}.log`), 'utf8')
      expect(notPassedRows(out), `${out}\n${err}\n${log}`).toEqual([expect.stringMatching(/^command\.storage unsupported/)])
      expect(code).toBe(0)
      expect(err).toContain('running disconnect command: kill -9')
      expect(err).not.toContain('>>> ACTION')
      expect(alive(first)).toBe(false)
      expect(await pid()).not.toBe(first)
      expect(out).toMatch(/^session\.will\s+§2\.5\s+pass/m)
      expect(out).toMatch(/^offline\.catchup\s+§6\.3\s+pass/m)
      expect(out).toMatch(/^telemetry\.offline\s+§10\.4\s+pass/m)
    } finally {
      const last = await pid()
      if (alive(last)) process.kill(last, 'SIGTERM')
      await waitFor(() => !alive(last), { what: 'the device process gone' })
    }
  }, 300_000)

  it('passes liquid-lln conformance, outage included; it declines only what it cannot measure (memory) as unsupported', async () => {
    await using device = await pythonDevice('good')
    const { code, out, err } = await rig.cli(device.id, device.proxy)
    const report = `${out}\n${err}\n${device.log()}`
    expect(notPassedRows(out), report).toEqual([expect.stringMatching(/^command\.storage unsupported: declined: .*memory/)])
    expect(code, report).toBe(0)
    expect(out).toContain('verdict: PASS')
    expect(out).toMatch(/^signature\.forged\s+§8\.2\s+pass\s+.*PACKAGE_SIGNATURE_INVALID/m)
    expect(out).toMatch(/^trial\.revert\s+§6\.9\s+pass\s+.*AGENT_TRIAL_LATENCY/m)
    expect(out).toMatch(/^session\.number\s+§2\.4\s+pass/m)
    expect(out).toMatch(/^command\.evaluate\s+§9\.4\s+pass\s+accuracy/m)
  }, 300_000)

  // Each variant breaks one clause; the kit must name that clause's check and no other.
  const variants: [string, string][] = [
    ['signature', 'signature.forged'],
    ['command-expiry', 'command.expired'],
    ['unknown-command', 'command.unknown'],
    ['status-slots', 'command.status'],
    ['rollback', 'command.rollback'],
    ['seconds', 'telemetry.windows'],
  ]
  it.concurrent.each(variants)(
    'with --break %s it fails %s, and only that check',
    async (broken, check) => {
      await using device = await pythonDevice(broken, [broken])
      const { code, out, err } = await rig.cli(device.id, device.proxy, '--skip', 'offline', '--json')
      const report = JSON.parse(out) as { passed: boolean; checks: { id: string; status: string; detail: string }[] }
      const failed = report.checks.filter((c) => c.status === 'fail')
      expect(
        failed.map((c) => c.id),
        `${JSON.stringify(failed, null, 1)}\n${err}\n${device.log()}`,
      ).toEqual([check])
      expect(code).toBe(7)
      expect(report.passed).toBe(false)
    },
    300_000,
  )
})
