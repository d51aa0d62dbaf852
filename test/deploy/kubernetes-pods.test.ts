/**
 * The dev overlay's pods, run as plain processes as their images run them: `lln-entrypoint` with the
 * rendered args, the ConfigMaps and Secrets of `envFrom` and `secretKeyRef`, the downward API's pod
 * name, the controller's init container making its MQTT credential — against a Redis and a NATS of
 * the test's own, the cluster's names, ports and volumes mapped to this machine's. Every probe must
 * answer 200, the controller must log into the broker with its own credential, the API must take the
 * overlay's admin token, and the docs' trial must work: the simulated fleet comes online and takes
 * the demo model an operator pushes and deploys.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { copyFileSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort, startNatsServer, startRedisServer, waitFor } from '../harness/index.js'
import { writeWrappers } from '../sandbox/processes.js'
import { ROOT } from './executables.js'
import { argvOf, find, KUBE, render, type Container, type PodSpec } from './kubernetes-api.js'

const run = promisify(execFile)
const entrypoint = join(ROOT, 'deploy/docker/entrypoint.sh')

interface Pod {
  readonly child: ChildProcess
  readonly log: string
  readonly exited: Promise<number | null>
  stop(): Promise<void>
}

/** One container, as its image runs it: `lln-entrypoint <args>` with the executables on PATH. */
function startContainer(name: string, argv: string[], env: Record<string, string>, dir: string): Pod {
  const log = join(dir, `${name}.log`)
  const out = createWriteStream(log)
  const child = spawn('sh', [entrypoint, ...argv], {
    cwd: ROOT,
    env: { PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout.pipe(out, { end: false })
  child.stderr.pipe(out, { end: false })
  const exited = once(child, 'exit').then(([code]) => {
    out.end()
    return code as number | null
  })
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    AbortSignal.timeout(15_000).addEventListener('abort', () => child.kill('SIGKILL'), { once: true })
    await exited
  }
  return { child, log, exited, stop }
}

describe('the dev overlay’s pods, run as processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lln-k8s-'))
  const cleanup: (() => Promise<void>)[] = []
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  })

  it('starts a broker node, a controller with its own credential and the simulated fleet; each answers its probes, the devices come online and take a deployed model', async () => {
    const rs = await render(join(KUBE, 'overlays/dev'))
    writeWrappers(join(dir, 'bin'))
    const redis = await startRedisServer()
    cleanup.push(() => redis.stop())
    const nats = await startNatsServer()
    cleanup.push(() => nats.stop())
    // The cluster's names and ports, as this machine has them.
    const ports = new Map<number, number>()
    for (const port of [1883, 9883, 8080, 9100]) ports.set(port, await freePort())
    const at = (port: string | number) => `127.0.0.1:${String(ports.get(Number(port)))}`
    const local = (value: string) =>
      value
        .replace(/^redis:\/\/redis:6379$/, redis.url)
        .replace(/^nats:\/\/nats:4222$/, nats.url)
        .replace(/^mqtt:\/\/liquid-broker:(\d+)$/, (_m, p: string) => `mqtt://${at(p)}`)
        .replace(/^http:\/\/liquid-controller:(\d+)$/, (_m, p: string) => `http://${at(p)}`)
        .replace(/^(\d+)$/, (p) => String(ports.get(Number(p)) ?? p))
        // The pods' volumes: a directory of the test's each.
        .replace(/^\/(?:etc|run|var\/lib)\/lln(?=\/|$)/, (path) => dir + path)
    const secret = (name: string, key: string) => {
      const value = find(rs, 'Secret', name)?.data?.[key]
      expect(value, `Secret ${name} has ${key}`).toBeDefined()
      return Buffer.from(value ?? '', 'base64').toString('utf8')
    }
    const envOf = (c: Container, podName: string): Record<string, string> => {
      const out: Record<string, string> = {}
      for (const f of c.envFrom ?? []) {
        const ref = f.configMapRef ?? f.secretRef
        const source = find(rs, f.configMapRef !== undefined ? 'ConfigMap' : 'Secret', ref?.name ?? '')
        if (source === undefined) expect(ref?.optional, `${c.name}: ${ref?.name ?? ''} exists or is optional`).toBe(true)
        const decode = (v: string) => (f.secretRef !== undefined ? Buffer.from(v, 'base64').toString('utf8') : v)
        for (const [k, v] of Object.entries(source?.data ?? {})) out[k] = local(decode(v))
      }
      for (const e of c.env ?? []) {
        const from = e.valueFrom
        if (from?.fieldRef?.fieldPath === 'metadata.name') out[e.name] = podName
        else if (from?.secretKeyRef !== undefined) out[e.name] = secret(from.secretKeyRef.name, from.secretKeyRef.key)
        // A path, or `LLN_X=/path …` (ENTRYPOINT_ENV_FILES): each path as this machine has it.
        else if (e.value !== undefined) out[e.name] = e.value.replace(/(^|=)(\/\S+)/g, (_m, pre: string, path: string) => pre + local(path))
      }
      return out
    }
    const start = (name: string, c: Container) => {
      for (const m of c.volumeMounts ?? []) if (local(m.mountPath) !== m.mountPath) mkdirSync(local(m.mountPath), { recursive: true })
      const env = envOf(c, name)
      const pod = startContainer(name, argvOf(c, env).map(local), env, dir)
      cleanup.push(() => pod.stop())
      return { c, pod, env }
    }
    // The operator's demo models, signed with their key, whose public half goes into the ConfigMap
    // liquid-edge-publisher-keys (docs/deploy.md's trial).
    const tool = (bin: string, args: string[], env: Record<string, string> = {}) =>
      run(join(dir, 'bin', bin), args, { cwd: dir, env: { ...process.env, ...env }, timeout: 180_000 })
    await tool('liquid-agent', ['model', 'demo', '--out', join(dir, 'models'), '--key', join(dir, 'signing/publisher.pem')])
    const keys = local(find(rs, 'ConfigMap', 'liquid-controller')?.data?.LLN_PUBLISHER_KEYS ?? '')
    mkdirSync(dirname(keys), { recursive: true })
    copyFileSync(join(dir, 'models/publisher.pub.pem'), keys)
    const podSpec = (kind: string, name: string) => find(rs, kind, name)?.spec?.template?.spec as PodSpec
    const ready = async (running: { c: Container; pod: Pod }) => {
      const { c, pod } = running
      for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe].filter((p) => p !== undefined)) {
        const url = `http://${at(c.ports?.find((x) => x.name === probe.httpGet?.port)?.containerPort ?? 0)}${probe.httpGet?.path ?? ''}`
        await waitFor(
          async () => {
            if (pod.child.exitCode !== null) throw new Error(`exited before ${url} answered`)
            return (await fetch(url, { signal: AbortSignal.timeout(2000) }).catch(() => null))?.status === 200
          },
          { timeoutMs: 90_000, intervalMs: 250, what: url },
        ).catch((err: unknown) => {
          throw new Error(`${c.name}: ${String(err)}; its log ends: ${readFileSync(pod.log, 'utf8').slice(-2000)}`)
        })
      }
    }

    // The broker pod liquid-broker-0; every probe answers where the kubelet would ask.
    const broker = start('liquid-broker-0', podSpec('StatefulSet', 'liquid-broker').containers[0] as Container)
    await ready(broker)

    // A controller pod: its init container makes the credential, then the controller logs in with it.
    const controllerPod = podSpec('Deployment', 'liquid-controller')
    const podName = 'liquid-controller-7d9f8b6c4-x2x7q'
    const init = start(podName, controllerPod.initContainers?.[0] as Container)
    expect(await init.pod.exited, `the init container succeeds (see ${init.pod.log})`).toBe(0)
    expect(readFileSync(local(init.env.ENTRYPOINT_ONCE_OUTPUT ?? ''), 'utf8').trim()).toMatch(/^\S{16,}$/)
    const controller = start(podName, controllerPod.containers[0] as Container)
    await ready(controller)
    const metrics = `http://${at(9883)}/metrics`
    await waitFor(async () => /lln_broker_clients_connected\{role="controller"\} 1\b/.test(await (await fetch(metrics)).text()), {
      timeoutMs: 60_000,
      what: 'the controller to connect to the broker',
    })
    // The admin token of the overlay's Secret is installed: the API answers it, and refuses without it.
    const api = `http://${at(8080)}/v1/devices`
    expect((await fetch(api)).status).toBe(401)
    const auth = { authorization: `Bearer ${controller.env.LLN_ADMIN_TOKEN ?? ''}` }
    expect((await fetch(api, { headers: auth })).status).toBe(200)

    // The simulated fleet registers its devices with a credential each; they come online.
    const fleet = start('sim-fleet-5f7c9d8b6-q8w2z', podSpec('Deployment', 'sim-fleet').containers[0] as Container)
    await ready(fleet)
    const count = Number(fleet.env.LLN_COUNT)
    expect(count).toBeGreaterThan(0)
    await waitFor(
      async () => {
        const { devices } = (await (await fetch(`${api}?target=${encodeURIComponent('env=staging')}`, { headers: auth })).json()) as {
          devices: { online: boolean | null }[]
        }
        return devices.filter((d) => d.online === true).length === count
      },
      { timeoutMs: 120_000, intervalMs: 500, what: `${String(count)} simulated devices online` },
    )
    expect(await (await fetch(metrics)).text()).toMatch(new RegExp(`lln_broker_clients_connected\\{role="device"\\} ${String(count)}\\b`))

    // The trial's deploy: the model goes from the controller's artifact volume, through the
    // URL devices download from (LLN_PUBLIC_URL), to every simulated device.
    const cli = { LLN_API_URL: `http://${at(8080)}`, LLN_TOKEN: controller.env.LLN_ADMIN_TOKEN ?? '' }
    await tool('liquid-lln', ['model', 'push', join(dir, 'models/cfc-sense-1.0.0.liquid')], cli)
    await tool('liquid-lln', ['deploy', '--target', 'env=staging', '--model', 'cfc-sense@1.0.0', '--strategy', 'all', '--wait'], cli)
    const { devices } = (await (await fetch(`${api}?target=${encodeURIComponent('env=staging')}`, { headers: auth })).json()) as {
      devices: { active: string | null }[]
    }
    expect(devices.map((d) => d.active)).toEqual(Array.from({ length: count }, () => 'cfc-sense@1.0.0'))
  }, 420_000)
})
