/**
 * What a conformance run needs around a device: our authenticating broker on port 0, a controller
 * logged in with a controller credential (unique Redis prefixes, topic root and artifact store),
 * and two signed demo models (CfC liquid networks) in its store.
 */
import { runCli } from '@liquid-edge/cli'
import { createController, type ConformanceReport, type Controller } from '@liquid-edge/controller'
import { buildDemoPackages, type DemoPackage } from '@liquid-edge/devices'
import { publisherKeyPair, startTestBroker, type TcpProxy, type TestBroker } from '@liquid-edge/test/harness'
import { controllerSpace } from '@liquid-edge/test/controller'

export const ADMIN = 'conformance-admin-token-0123456789'

export interface KitRig extends AsyncDisposable {
  readonly broker: TestBroker
  readonly controller: Controller
  readonly publicKeyPem: string
  /** The demo packages pushed to the store (1.0.0 and 1.1.0), and all of them built. */
  readonly packages: DemoPackage[]
  /**
   * Run `liquid-lln conformance --device <id> …` in-process as an operator would, playing the
   * operator: when it prints an ACTION to take the device offline (or back), cut (or restore) `proxy`.
   */
  cli(id: string, proxy: TcpProxy | null, ...args: string[]): Promise<{ code: number; out: string; err: string }>
  /** Register `id` in the controller and give it a broker credential; returns the secret. */
  device(id: string, role?: 'device' | 'gateway', children?: readonly string[]): Promise<string>
  close(): Promise<void>
}

/**
 * The packages budget latency generously for every class (`budgets` adds or overrides classes): the
 * kit checks the contract, and the load of this shared machine is not a device's speed (an edge
 * node's golden vectors took over the x86-edge budget of 1 ms at a load of 33).
 */
export async function kitRig(o: { budgets?: Record<string, { latencyThresholdMs: number }> } = {}): Promise<KitRig> {
  const keys = publisherKeyPair()
  const broker = await startTestBroker()
  const space = controllerSpace('conf', broker.root)
  const ctlId = `ctl-${space.prefix.slice(-8)}`
  const secret = await broker.provision(ctlId, 'controller')
  const config = space.config(broker.url, {
    mqttUsername: ctlId,
    mqttPassword: secret,
    adminToken: ADMIN,
    tickMs: 100,
    leaseMs: 1500,
  })
  const controller = await createController({ config, publisherKeys: [keys.publicKey] })
  const packages = await buildDemoPackages({
    privateKey: keys.privateKey,
    profile: ['stm32h743', 'x86-edge'],
    budgets: { stm32h743: { latencyThresholdMs: 100 }, 'x86-edge': { latencyThresholdMs: 100 }, ...o.budgets },
  })
  for (const p of packages.slice(0, 2)) await controller.models.push(p.bytes)
  const close = async (): Promise<void> => {
    await controller.close()
    await broker.close()
    await space.clean()
  }
  return {
    broker,
    controller,
    publicKeyPem: keys.publicKeyPem,
    packages,
    async device(id, role = 'device', children = []) {
      await controller.registry.addMany([{ id, labels: { kit: 'conformance' } }])
      return broker.provision(id, role, children)
    },
    async cli(id, proxy, ...args) {
      let out = ''
      let err = ''
      const stderr = (text: string): void => {
        err += text
        if (text.includes('>>> ACTION (disconnect')) proxy?.cut()
        if (text.includes('>>> ACTION (reconnect')) proxy?.restore()
      }
      const argv = ['--api-url', controller.url, '--token', ADMIN, 'conformance', '--device', id, ...args]
      const code = await runCli(argv, { stdout: (s) => (out += s), stderr, env: {}, isTTY: false })
      return { code, out, err }
    },
    close,
    [Symbol.asyncDispose]: close,
  }
}

/** The rows of `liquid-lln conformance`'s table whose result is not `pass`, as `id result: detail`. */
export function notPassedRows(out: string): string[] {
  return out
    .split('\n')
    .map((line) => /^(\S+)\s+(§\d+(?:\.\d+)?)\s+(FAIL|skip|unsupported|pass)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && m[3] !== 'pass')
    .map((m) => `${m[1] ?? ''} ${m[3] ?? ''}: ${m[4] ?? ''}`)
}

/** The checks that did not pass, one line each (for assertion messages). */
export function notPassed(report: ConformanceReport): string[] {
  return report.checks.filter((c) => c.status !== 'pass').map((c) => `${c.id} ${c.status}: ${c.detail}`)
}
