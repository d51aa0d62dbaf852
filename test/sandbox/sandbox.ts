/**
 * The sandbox behind `npm start`: the embedded broker, the controller and a simulated fleet on
 * the local Redis, each a real process started from source, provisioned and ready to use.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { RedisCredentialStore, provisionCredential } from '@liquid-edge/broker'
import { deleteKeys } from '../harness/redis.js'
import { REPO, freePort, run, startService, waitForHttp, writeWrappers, type Service } from './processes.js'

export interface FleetGroup {
  idPrefix: string
  count: number
  profile: 'stm32h743' | 'cortex-a53' | 'x86-edge'
  labels: Record<string, string>
  /** Inferences per second per device (the simulator's default when unset). */
  rate?: number
}

export interface SandboxOptions {
  redisUrl: string
  /** Where keys, packages, device state and logs go. Emptied at start. */
  dir: string
  /** Redis key prefix; the sandbox clears it at start. @defaultValue 'lln-sandbox' */
  prefix?: string
  fleet: FleetGroup[]
  /**
   * Use this running MQTT 3.1.1 broker (e.g. the machine's Mosquitto) instead of starting
   * liquid-broker: no credentials, everything under its own topic root.
   */
  externalBroker?: { url: string; root: string }
  /** Preferred ports (a busy one is replaced by a free one). */
  ports?: { mqtt?: number; brokerHttp?: number; api?: number }
  /** Seconds per telemetry window and rule time scale, for demos and tests. */
  telemetryWindowMs?: number
  rulesTimeScale?: number
  rulesEvalMs?: number
  say?: (line: string) => void
}

export interface Sandbox extends AsyncDisposable {
  readonly mqttUrl: string
  readonly apiUrl: string
  readonly brokerHttpUrl: string
  readonly token: string
  readonly dir: string
  readonly modelsDir: string
  /** Fault control endpoints of the simulated fleets, by group id prefix. */
  readonly control: Record<string, string>
  readonly services: Service[]
  /** Stop the controller (SIGKILL when `crash`) and start a new one on the same state. */
  restartController(crash?: boolean): Promise<void>
  /** Stop one fleet group's process: its devices go offline (their Last Wills). */
  stopFleet(idPrefix: string): Promise<void>
  /** Start a stopped fleet group again, on the same device state and credentials. */
  startFleet(idPrefix: string): void
  /** Environment for `liquid-lln` (LLN_API_URL, LLN_TOKEN). */
  readonly cliEnv: Record<string, string>
  close(): Promise<void>
}

/** Redis answers PING within `timeoutMs`, or a clear error says how to start it. */
export async function checkRedis(url: string, timeoutMs = 3000): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: timeoutMs, retryStrategy: () => null })
  redis.on('error', () => undefined)
  try {
    await redis.connect()
    await redis.ping()
  } catch (err) {
    throw new Error(
      `Redis is not reachable at ${url} (${err instanceof Error ? err.message : String(err)}).\n` +
        `Start it, e.g.: redis-server --daemonize yes --port 6379 --save "" --appendonly no\n` +
        `or point LLN_REDIS_URL at a running Redis.`,
      { cause: err },
    )
  } finally {
    redis.disconnect()
  }
}

export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  const say = options.say ?? (() => undefined)
  const prefix = options.prefix ?? 'lln-sandbox'
  const dir = options.dir
  const logDir = join(dir, 'logs')
  const modelsDir = join(dir, 'models')
  const services: Service[] = []
  const close = async (): Promise<void> => {
    // Fleet first (its Last Wills are the broker's last work), then controller, then broker.
    for (const s of [...services].reverse()) await s.stop()
  }

  try {
    await checkRedis(options.redisUrl)
    say(`Redis answers at ${options.redisUrl}`)
    const redis = new Redis(options.redisUrl)
    const cleared = (await deleteKeys(redis, `${prefix}:`)) + (await deleteKeys(redis, `${prefix}-bull:`))
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(modelsDir, { recursive: true })
    say(`fresh sandbox in ${dir}${cleared > 0 ? ` (cleared ${cleared} keys of the previous one)` : ''}`)

    // One package per version serves every hardware class of the fleet: budgets fit them all.
    const profiles = [...new Set(options.fleet.map((g) => g.profile))].join(',')
    const demo = await run('liquid-agent', [
      'model',
      'demo',
      '--out',
      modelsDir,
      '--key',
      join(dir, 'publisher.pem'),
      '--profile',
      profiles,
    ])
    if (demo.code !== 0) throw new Error(`could not build the demo models:\n${demo.stderr}`)
    say(`built and signed the demo models (cfc-sense 1.0.0, 1.1.0, 2.0.0; budgets for ${profiles})`)

    const ports = {
      mqtt: await freePort(options.ports?.mqtt ?? 0),
      brokerHttp: await freePort(options.ports?.brokerHttp ?? 0),
      api: await freePort(options.ports?.api ?? 0),
    }
    const external = options.externalBroker
    const root = external?.root ?? 'lln/v1'
    let mqttUrl: string
    let brokerHttpUrl = ''
    let mqttAuth: Record<string, string> = {}
    if (external === undefined) {
      const store = new RedisCredentialStore({ redis, prefix })
      const { secret } = await provisionCredential(store, { id: 'sandbox-controller', role: 'controller', children: [] })
      await store.close()
      mqttAuth = { LLN_MQTT_USERNAME: 'sandbox-controller', LLN_MQTT_PASSWORD: secret }
      const broker = startService(
        'broker',
        'liquid-broker',
        ['--host', '127.0.0.1', '--mqtt-port', String(ports.mqtt), '--http-port', String(ports.brokerHttp)].concat([
          '--credentials-store',
          'redis',
          '--redis-url',
          options.redisUrl,
        ]),
        { env: { LLN_CREDENTIALS_PREFIX: prefix, LLN_LOG_LEVEL: 'info' }, logDir, cwd: dir },
      )
      services.push(broker)
      brokerHttpUrl = `http://127.0.0.1:${ports.brokerHttp}`
      await waitForHttp(`${brokerHttpUrl}/health`, broker)
      mqttUrl = `mqtt://127.0.0.1:${ports.mqtt}`
      say(`broker listening on ${mqttUrl} (health and metrics on ${brokerHttpUrl})`)
    } else {
      mqttUrl = external.url
      say(`using the MQTT broker at ${mqttUrl} (topic root ${root}, no device credentials)`)
    }
    await redis.quit()

    const token = randomBytes(24).toString('base64url')
    const apiUrl = `http://127.0.0.1:${ports.api}`
    const controllerEnv = {
      LLN_REDIS_URL: options.redisUrl,
      LLN_PREFIX: prefix,
      LLN_BULL_PREFIX: `${prefix}-bull`,
      LLN_MQTT_URL: mqttUrl,
      ...mqttAuth,
      LLN_ROOT: root,
      LLN_HTTP_PORT: String(ports.api),
      LLN_STORE_DIR: join(dir, 'artifacts'),
      LLN_PUBLISHER_KEYS: join(modelsDir, 'publisher.pub.pem'),
      LLN_ADMIN_TOKEN: token,
      LLN_TICK_MS: '500',
      // Shortened rules judge shortened buckets (10 s by default), or a 3 s window would wait for 10 s ones.
      ...(options.rulesTimeScale === undefined
        ? {}
        : {
            LLN_RULES_TIME_SCALE: String(options.rulesTimeScale),
            LLN_TELEMETRY_BUCKET_MS: String(Math.max(500, Math.round(10_000 * options.rulesTimeScale))),
          }),
      ...(options.rulesEvalMs === undefined ? {} : { LLN_RULES_EVAL_MS: String(options.rulesEvalMs) }),
      LLN_LOG_LEVEL: 'info',
    }
    let controllerRuns = 0
    const startController = async (): Promise<Service> => {
      const controller = startService(`controller${controllerRuns++ === 0 ? '' : `-${controllerRuns}`}`, 'liquid-controller', ['start'], {
        logDir,
        cwd: dir,
        env: controllerEnv,
      })
      services.splice(external === undefined ? 1 : 0, 0, controller)
      await waitForHttp(`${apiUrl}/health`, controller)
      return controller
    }
    let controller = await startController()
    const restartController = async (crash = false): Promise<void> => {
      await (crash ? controller.kill() : controller.stop())
      services.splice(services.indexOf(controller), 1)
      controller = await startController()
    }
    const cliEnv = { LLN_API_URL: apiUrl, LLN_TOKEN: token }

    const control: Record<string, string> = {}
    const controlPorts = new Map<string, number>()
    const fleets = new Map<string, Service>()
    const launchFleet = (group: FleetGroup): void => {
      const controlPort = controlPorts.get(group.idPrefix) ?? 0
      const labels = Object.entries(group.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',')
      const service = startService(
        `fleet-${group.idPrefix}`,
        'liquid-agent',
        [
          'simulate',
          ...['--count', String(group.count), '--profile', group.profile, '--labels', labels, '--id-prefix', group.idPrefix],
          ...['--broker', mqttUrl, '--root', root, '--state-dir', join(dir, 'devices', group.idPrefix)],
          ...['--publisher-key', join(modelsDir, 'publisher.pub.pem')],
          ...['--controller-url', apiUrl, '--controller-token', token, '--auth', external === undefined ? 'provision' : 'none'],
          ...['--credentials-file', join(dir, `credentials-${group.idPrefix}.txt`), '--control-port', String(controlPort)],
          ...(options.telemetryWindowMs === undefined ? [] : ['--telemetry-window-ms', String(options.telemetryWindowMs)]),
          ...(group.rate === undefined ? [] : ['--rate', String(group.rate)]),
        ],
        { logDir, cwd: dir, env: { LLN_LOG_LEVEL: 'warn' } },
      )
      services.push(service)
      fleets.set(group.idPrefix, service)
    }
    const groupOf = (idPrefix: string): FleetGroup => {
      const group = options.fleet.find((g) => g.idPrefix === idPrefix)
      if (group === undefined) throw new Error(`no fleet group '${idPrefix}' in this sandbox`)
      return group
    }
    for (const group of options.fleet) {
      const port = await freePort()
      controlPorts.set(group.idPrefix, port)
      control[group.idPrefix] = `http://127.0.0.1:${port}`
      launchFleet(group)
    }
    const stopFleet = async (idPrefix: string): Promise<void> => {
      const service = fleets.get(groupOf(idPrefix).idPrefix)
      if (service === undefined) return
      fleets.delete(idPrefix)
      await service.stop()
      services.splice(services.indexOf(service), 1)
    }
    const startFleet = (idPrefix: string): void => {
      if (!fleets.has(idPrefix)) launchFleet(groupOf(idPrefix))
    }
    const total = options.fleet.reduce((n, g) => n + g.count, 0)
    say(
      `starting ${total} simulated devices (${options.fleet.map((g) => `${g.count} ${g.profile} ${JSON.stringify(g.labels)}`).join('; ')})`,
    )

    for (const file of ['cfc-sense-1.0.0.liquid', 'cfc-sense-1.1.0.liquid', 'cfc-sense-2.0.0.liquid']) {
      const pushed = await run('liquid-lln', ['model', 'push', join(modelsDir, file)], { env: cliEnv })
      if (pushed.code !== 0) throw new Error(`liquid-lln model push ${file} failed:\n${pushed.stderr}${pushed.stdout}`)
    }
    say('pushed cfc-sense 1.0.0, 1.1.0 and 2.0.0 to the model store')

    writeWrappers(join(dir, 'bin'))
    const envLines = [...Object.entries(cliEnv).map(([k, v]) => `export ${k}=${v}`), `export PATH="${join(dir, 'bin')}:$PATH"`]
    writeFileSync(join(dir, 'env.sh'), `${envLines.join('\n')}\n`, { mode: 0o600 })
    const sandbox: Sandbox = {
      mqttUrl,
      apiUrl,
      brokerHttpUrl,
      token,
      dir,
      modelsDir,
      control,
      services,
      restartController,
      stopFleet,
      startFleet,
      cliEnv,
      close,
      [Symbol.asyncDispose]: close,
    }
    return sandbox
  } catch (err) {
    await close()
    throw err
  }
}

/** The fleet `npm start` runs by default: 50 devices over two hardware classes and two environments. */
export function defaultFleet(count = 50): FleetGroup[] {
  const quarter = Math.max(1, Math.floor(count / 4))
  return [
    { idPrefix: 'stm32-stg', count: quarter, profile: 'stm32h743', labels: { env: 'staging', hw: 'stm32h743' } },
    { idPrefix: 'stm32-prd', count: quarter, profile: 'stm32h743', labels: { env: 'production', hw: 'stm32h743' } },
    { idPrefix: 'edge-stg', count: quarter, profile: 'x86-edge', labels: { env: 'staging', hw: 'x86-edge' } },
    { idPrefix: 'edge-prd', count: count - 3 * quarter, profile: 'x86-edge', labels: { env: 'production', hw: 'x86-edge' } },
  ]
}

/** Repository-relative default sandbox directory. */
export const DEFAULT_DIR = join(REPO, '.lln', 'sandbox')
