import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { waitFor, startAgentFleet, type AgentFleet, type FleetDeviceSpec } from '@liquid-edge/test/harness'
import { ADMIN, api, testEnv, type Controller, type Env } from '@liquid-edge/test/controller'
import { runCli } from '../../src/index.js'

/** A controller, real agents with faults on some of them, registered with `env=rb` and `hw` labels. */
export interface RunbookFleet extends AsyncDisposable {
  env: Env
  controller: Controller
  fleet: AgentFleet
  cli: (...args: string[]) => Promise<{ code: number; out: string; err: string }>
  close(): Promise<void>
}

export async function startRunbookFleet(devices: readonly FleetDeviceSpec[]): Promise<RunbookFleet> {
  const env = await testEnv()
  const controller = await env.start()
  const publicKeyPem = env.publisher.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  await controller.registry.addMany(devices.map((d) => ({ id: d.id, labels: { env: 'rb', hw: d.hardware ?? 'fake-x86' } })))
  const fleet = await startAgentFleet({
    url: env.broker.url,
    root: env.root,
    privateKey: env.publisher.privateKey,
    publicKeyPem,
    devices,
    package: { name: 'kws', version: '1.0.0', evaluation: true, latencyThresholdMs: 5 },
  })
  await controller.models.push(fleet.pkg.bytes)
  const call = api(controller)
  await waitFor(async () => {
    const res = await call<{ devices: { id: string; active: string | null }[] }>('GET', '/v1/devices?target=env%3Drb')
    return res.body.devices.every((d) => d.active === 'kws@1.0.0')
  })
  const cli = async (...args: string[]) => {
    let out = ''
    let err = ''
    const code = await runCli(['--api-url', controller.url, '--token', ADMIN, ...args], {
      stdout: (s) => (out += s),
      stderr: (s) => (err += s),
      env: {},
      isTTY: false,
    })
    return { code, out, err }
  }
  const close = async (): Promise<void> => {
    await fleet.close()
    await env.close()
  }
  return { env, controller, fleet, cli, close, [Symbol.asyncDispose]: close }
}

/** Stop an agent and wait until the controller sees it offline. */
export async function stopDevice(rb: RunbookFleet, id: string): Promise<void> {
  await rb.fleet.stop(id)
  const call = api(rb.controller)
  await waitFor(async () => (await call<{ online: boolean | null }>('GET', `/v1/devices/${id}`)).body.online === false)
}

const BIN = fileURLToPath(new URL('../../src/bin/liquid-lln.ts', import.meta.url))

/** Run `liquid-lln` as a child process (from source); resolves with its exit code and output. */
export function runLiquidLln(
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=@liquid-edge/source', '--import', 'tsx', BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (b: Buffer) => (out += b.toString()))
    child.stderr.on('data', (b: Buffer) => (err += b.toString()))
    child.on('error', reject)
    child.on('close', (code) => {
      resolve({ code, out, err })
    })
  })
}
