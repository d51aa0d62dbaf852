/**
 * The sandbox behind `npm start`: the embedded broker, the controller and a simulated fleet on
 * the local Redis, each a real process started from source, provisioned and ready to use.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { RedisCredentialStore, provisionCredential, type ScryptParams } from '@liquid-edge/broker'
import { FLEET_RECONNECT_GRACE_MS, fleetDeviceIds } from '@liquid-edge/devices'
import { deleteKeys } from '../harness/redis.js'
import { startTcpProxy, type TcpProxy } from '../harness/tcp-proxy.js'
import { ensureConsoleBuilt } from './console-build.js'
import { REPO, freePort, run, startService, waitForHttp, writeWrappers, type Service } from './processes.js'

export interface FleetGroup {
  idPrefix: string
  count: number
  profile: 'stm32h743' | 'cortex-a53' | 'x86-edge'
  labels: Record<string, string>
  /** Inferences per second per device (the simulator's default when unset). */
  rate?: number
}

export type BrokerPersistence = 'memory' | 'redis'

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
  /**
   * Where the embedded broker keeps retained messages and sessions: `memory` (lost when it stops) or
   * `redis` (kept in `redisUrl`, which aedes-persistence-redis writes without a key prefix: give the
   * sandbox a Redis of its own). @defaultValue 'memory'
   */
  brokerPersistence?: BrokerPersistence
  /**
   * Embedded broker nodes clustered over Redis (`--persistence redis` whatever `brokerPersistence`
   * says, a stable `--broker-id` each), every client given all of them as one comma-separated list.
   * Give the sandbox a Redis of its own (`redisUrl`) when this is more than 1. @defaultValue 1
   */
  brokerNodes?: number
  /** Preferred ports (a busy one is replaced by a free one). */
  ports?: { mqtt?: number; brokerHttp?: number; api?: number }
  /** Seconds per telemetry window and rule time scale, for demos and tests. */
  telemetryWindowMs?: number
  rulesTimeScale?: number
  rulesEvalMs?: number
  /** Trial of a deploy that sets none (the controller's `LLN_ROLLOUT_TRIAL_MS`; 60 s when unset). */
  rolloutTrialMs?: number
  /**
   * Controller replicas sharing everything (Redis, the broker credential), each with its own API
   * port. With more than one, `apiUrl` is a load balancer in front of them (also the URL devices
   * download models from), as a Kubernetes Service would be. @defaultValue 1
   */
  controllers?: number
  say?: (line: string) => void
}

/** One embedded broker node of a sandbox. */
export interface BrokerNode {
  readonly name: string
  readonly mqttUrl: string
  /** Its `/health` and `/metrics`. */
  readonly httpUrl: string
  readonly service: Service
}

/** One controller replica of a sandbox. */
export interface ControllerReplica {
  readonly apiUrl: string
  readonly service: Service
}

export interface Sandbox extends AsyncDisposable {
  readonly mqttUrl: string
  readonly apiUrl: string
  /** The web console, served by the controller. */
  readonly consoleUrl: string
  readonly brokerHttpUrl: string
  /** The embedded broker's persistence now (changed by `restartBroker`). */
  readonly brokerPersistence: BrokerPersistence
  /** The embedded broker's nodes (one unless `brokerNodes`), none with an external broker. */
  readonly brokers: readonly BrokerNode[]
  /** SIGKILL one embedded broker node (no restart): its clients move to the others. */
  crashBrokerNode(node: BrokerNode): Promise<void>
  readonly token: string
  /** The Redis key prefix of the controller's state. */
  readonly prefix: string
  readonly dir: string
  readonly modelsDir: string
  /** Fault control endpoints of the simulated fleets, by group id prefix. */
  readonly control: Record<string, string>
  /**
   * One device's local HTTP API per simulated fleet (its first device: `POST /inference`, `GET /health`,
   * `GET /metrics`, as the applications on an edge node call it), by group id prefix.
   */
  readonly deviceApi: Record<string, string>
  readonly services: Service[]
  /** Every controller replica, the first (`apiUrl`) included; a crashed one is removed. */
  readonly controllers: readonly ControllerReplica[]
  /** SIGKILL one controller replica (no restart): the others carry on. */
  crashController(replica: ControllerReplica): Promise<void>
  /** Stop the first controller (SIGKILL when `crash`) and start a new one on the same state. */
  restartController(crash?: boolean): Promise<void>
  /**
   * Stop the embedded broker (SIGKILL when `crash`) and start a new one on the same ports, with
   * `persistence` (the one it ran with when unset). With in-memory persistence every retained
   * message and session is lost; with Redis persistence they are kept.
   */
  restartBroker(crash?: boolean, persistence?: BrokerPersistence): Promise<void>
  /** Stop one fleet group's process: its devices go offline (their Last Wills). */
  stopFleet(idPrefix: string): Promise<void>
  /** Start a stopped fleet group again, on the same device state and credentials. */
  startFleet(idPrefix: string): void
  /** Environment for `liquid-lln` (LLN_API_URL, LLN_TOKEN). */
  readonly cliEnv: Record<string, string>
  close(): Promise<void>
}

/**
 * How long a broker or controller may take to answer `/health`: seconds when the machine is quiet,
 * two minutes seen at a load of 40 on 2 cores. A process that exits fails the wait at once.
 */
const START_MS = 240_000

/**
 * Past this many devices the sandbox runs them the way big fleets run on one machine: light MQTT
 * sessions with paced connects, agent state in memory, 10 s telemetry windows, and credentials it
 * provisions itself with light scrypt parameters (see {@link LARGE_FLEET_SCRYPT}).
 */
export const LARGE_FLEET = 1000

/**
 * scrypt's work factor protects secrets people choose; a device secret is 256 random bits, which no
 * work factor makes stronger. The production parameters (N = 32768, ~100 ms per hash) would make a
 * 5,000-device sandbox spend minutes hashing at provisioning and again at every connect.
 */
const LARGE_FLEET_SCRYPT: ScryptParams = Object.freeze({ N: 1024, r: 8, p: 1, keyLength: 32, saltLength: 16 })

/** Provision a broker credential for every device of a group (unless the file has one), appended to `file`. */
async function provisionGroup(store: RedisCredentialStore, ids: readonly string[], file: string): Promise<void> {
  let next = 0
  const lines: string[] = []
  const worker = async () => {
    for (let id = ids[next++]; id !== undefined; id = ids[next++]) {
      const { secret } = await provisionCredential(store, { id, role: 'device', children: [] }, { params: LARGE_FLEET_SCRYPT })
      lines.push(`${id}:${secret}`)
    }
  }
  await Promise.all(Array.from({ length: 8 }, worker))
  writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 })
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
  const brokers: BrokerNode[] = []
  let balancer: TcpProxy | null = null
  const close = async (): Promise<void> => {
    // Fleet first (its Last Wills are the broker's last work), then controller, then broker.
    for (const s of [...services].reverse()) await s.stop()
    await balancer?.close()
  }

  try {
    await checkRedis(options.redisUrl)
    say(`Redis answers at ${options.redisUrl}`)
    const redis = new Redis(options.redisUrl)
    const cleared = (await deleteKeys(redis, `${prefix}:`)) + (await deleteKeys(redis, `${prefix}-bull:`))
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(modelsDir, { recursive: true })
    say(`fresh sandbox in ${dir}${cleared > 0 ? ` (cleared ${cleared} keys of the previous one)` : ''}`)

    // One package per version serves every hardware class of the fleet, with each class's own budgets.
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
    let startBroker: ((persistence: BrokerPersistence) => Promise<Service>) | null = null
    let brokerPersistence = options.brokerPersistence ?? 'memory'
    let brokerService: Service | null = null
    if (external === undefined) {
      const store = new RedisCredentialStore({ redis, prefix })
      const { secret } = await provisionCredential(store, { id: 'sandbox-controller', role: 'controller', children: [] })
      await store.close()
      mqttAuth = { LLN_MQTT_USERNAME: 'sandbox-controller', LLN_MQTT_PASSWORD: secret }
      brokerHttpUrl = `http://127.0.0.1:${ports.brokerHttp}`
      const nodeCount = Math.max(1, options.brokerNodes ?? 1)
      const clustered = nodeCount > 1
      const nodePorts = [{ mqtt: ports.mqtt, http: ports.brokerHttp }]
      for (let i = 1; i < nodeCount; i++) nodePorts.push({ mqtt: await freePort(0), http: await freePort(0) })
      let brokerRuns = 0
      const startNode = async (i: number, persistence: BrokerPersistence): Promise<BrokerNode> => {
        const p = nodePorts[i] ?? { mqtt: 0, http: 0 }
        const name = clustered ? `broker-${i + 1}` : `broker${brokerRuns++ === 0 ? '' : `-${brokerRuns}`}`
        const persist = clustered ? 'redis' : persistence
        const broker = startService(
          name,
          'liquid-broker',
          ['--host', '127.0.0.1', '--mqtt-port', String(p.mqtt), '--http-port', String(p.http)].concat([
            '--credentials-store',
            'redis',
            '--redis-url',
            options.redisUrl,
            '--persistence',
            persist,
            // A restarted node comes back as the same broker and finds its sessions.
            ...(persist === 'redis' ? ['--broker-id', clustered ? `sandbox-${name}` : 'sandbox-broker'] : []),
          ]),
          { env: { LLN_CREDENTIALS_PREFIX: prefix, LLN_LOG_LEVEL: 'info' }, logDir, cwd: dir },
        )
        services.unshift(broker)
        const node = { name, mqttUrl: `mqtt://127.0.0.1:${p.mqtt}`, httpUrl: `http://127.0.0.1:${p.http}`, service: broker }
        await waitForHttp(`${node.httpUrl}/health`, broker, START_MS)
        return node
      }
      startBroker = async (persistence: BrokerPersistence) => {
        const node = await startNode(0, persistence)
        brokers.unshift(node)
        return node.service
      }
      brokerService = await startBroker(brokerPersistence)
      for (let i = 1; i < nodeCount; i++) brokers.push(await startNode(i, brokerPersistence))
      mqttUrl = brokers.map((b) => b.mqttUrl).join(',')
      say(`broker listening on ${mqttUrl} (health and metrics on ${brokerHttpUrl})`)
    } else {
      mqttUrl = external.url
      say(`using the MQTT broker at ${mqttUrl} (topic root ${root}, no device credentials)`)
    }
    const total = options.fleet.reduce((n, g) => n + g.count, 0)
    const large = total > LARGE_FLEET
    if (large && external === undefined) {
      const store = new RedisCredentialStore({ redis, prefix })
      for (const g of options.fleet)
        await provisionGroup(store, fleetDeviceIds(g.count, g.idPrefix), join(dir, `credentials-${g.idPrefix}.txt`))
      await store.close()
      say(`provisioned ${total} device credentials`)
    }
    await redis.quit()

    if (await ensureConsoleBuilt(say)) say('built the web console')
    const token = randomBytes(24).toString('base64url')
    // Replicas sit behind a balancer that skips a dead one; it is the API and artifact URL everyone uses.
    const controllers: ControllerReplica[] = []
    const replicated = (options.controllers ?? 1) > 1
    balancer = replicated ? await startTcpProxy(() => controllers.map((c) => Number(new URL(c.apiUrl).port))) : null
    const apiUrl = balancer === null ? `http://127.0.0.1:${ports.api}` : `http://127.0.0.1:${balancer.port}`
    const controllerEnv = (port: number) => ({
      LLN_REDIS_URL: options.redisUrl,
      LLN_PREFIX: prefix,
      LLN_BULL_PREFIX: `${prefix}-bull`,
      LLN_MQTT_URL: mqttUrl,
      ...mqttAuth,
      LLN_ROOT: root,
      LLN_HTTP_PORT: String(port),
      ...(balancer === null ? {} : { LLN_PUBLIC_URL: apiUrl }),
      LLN_STORE_DIR: join(dir, 'artifacts'),
      LLN_PUBLISHER_KEYS: join(modelsDir, 'publisher.pub.pem'),
      LLN_ADMIN_TOKEN: token,
      LLN_CONSOLE_DIR: join(REPO, 'console', 'dist'),
      LLN_TICK_MS: '500',
      // The simulated devices' longest reconnect wait, not a real agent's 90 s: after a broker restart they are back within it.
      LLN_RECONNECT_GRACE_MS: String(FLEET_RECONNECT_GRACE_MS),
      // Shortened rules judge shortened buckets (10 s by default), or a 3 s window would wait for 10 s ones.
      ...(options.rulesTimeScale === undefined
        ? {}
        : {
            LLN_RULES_TIME_SCALE: String(options.rulesTimeScale),
            LLN_TELEMETRY_BUCKET_MS: String(Math.max(500, Math.round(10_000 * options.rulesTimeScale))),
          }),
      ...(options.rulesEvalMs === undefined ? {} : { LLN_RULES_EVAL_MS: String(options.rulesEvalMs) }),
      ...(options.rolloutTrialMs === undefined ? {} : { LLN_ROLLOUT_TRIAL_MS: String(options.rolloutTrialMs) }),
      LLN_LOG_LEVEL: 'info',
    })
    let controllerRuns = 0
    const startController = async (port: number): Promise<ControllerReplica> => {
      const service = startService(`controller${controllerRuns++ === 0 ? '' : `-${controllerRuns}`}`, 'liquid-controller', ['start'], {
        logDir,
        cwd: dir,
        env: controllerEnv(port),
      })
      services.splice(brokers.length, 0, service)
      const replica = { apiUrl: `http://127.0.0.1:${port}`, service }
      await waitForHttp(`${replica.apiUrl}/health`, service, START_MS)
      return replica
    }
    // Replicas share one broker credential: each connects under its own client id.
    controllers.push(await startController(ports.api))
    for (let i = 1; i < (options.controllers ?? 1); i++) controllers.push(await startController(await freePort(0)))
    const dropController = (replica: ControllerReplica): void => {
      services.splice(services.indexOf(replica.service), 1)
      controllers.splice(controllers.indexOf(replica), 1)
    }
    const crashController = async (replica: ControllerReplica): Promise<void> => {
      await replica.service.kill()
      dropController(replica)
    }
    const restartController = async (crash = false): Promise<void> => {
      const first = controllers.find((c) => c.apiUrl === `http://127.0.0.1:${ports.api}`)
      if (first === undefined) throw new Error('the first controller was crashed for good')
      await (crash ? first.service.kill() : first.service.stop())
      dropController(first)
      controllers.unshift(await startController(ports.api))
    }
    const restartBroker = async (crash = false, persistence = brokerPersistence): Promise<void> => {
      if (startBroker === null || brokerService === null) throw new Error('this sandbox uses an external broker')
      await (crash ? brokerService.kill() : brokerService.stop())
      services.splice(services.indexOf(brokerService), 1)
      brokers.splice(0, 1)
      brokerPersistence = persistence
      brokerService = await startBroker(persistence)
    }
    const crashBrokerNode = async (node: BrokerNode): Promise<void> => {
      await node.service.kill()
      services.splice(services.indexOf(node.service), 1)
      brokers.splice(brokers.indexOf(node), 1)
    }
    const cliEnv = { LLN_API_URL: apiUrl, LLN_TOKEN: token }

    const control: Record<string, string> = {}
    const deviceApi: Record<string, string> = {}
    const controlPorts = new Map<string, number>()
    const apiPorts = new Map<string, number>()
    const fleets = new Map<string, Service>()
    const windowMs = options.telemetryWindowMs ?? (large ? 10_000 : undefined)
    const launchFleet = (group: FleetGroup): void => {
      const rate = group.rate ?? (large ? 1 : undefined)
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
          ...['--controller-url', apiUrl, '--controller-token', token, '--auth', external === undefined && !large ? 'provision' : 'none'],
          ...['--credentials-file', join(dir, `credentials-${group.idPrefix}.txt`), '--control-port', String(controlPort)],
          ...['--http-port', String(apiPorts.get(group.idPrefix) ?? 0)],
          ...(windowMs === undefined ? [] : ['--telemetry-window-ms', String(windowMs)]),
          ...(rate === undefined ? [] : ['--rate', String(rate)]),
        ],
        {
          logDir,
          cwd: dir,
          env: {
            LLN_LOG_LEVEL: 'warn',
            ...(large ? { LLN_SESSIONS: 'lite', LLN_STATE_STORE: 'memory', LLN_BUFFER_ON_DISK: 'false' } : {}),
          },
        },
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
      const apiPort = await freePort()
      apiPorts.set(group.idPrefix, apiPort)
      deviceApi[group.idPrefix] = `http://127.0.0.1:${apiPort}`
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
    say(
      `starting ${total} simulated devices (${options.fleet.map((g) => `${g.count} ${g.profile} ${JSON.stringify(g.labels)}`).join('; ')})`,
    )

    for (const file of ['cfc-sense-1.0.0.liquid', 'cfc-sense-1.1.0.liquid', 'cfc-sense-2.0.0.liquid']) {
      const pushed = await run('liquid-lln', ['model', 'push', join(modelsDir, file)], { env: cliEnv })
      if (pushed.code !== 0) throw new Error(`liquid-lln model push ${file} failed:\n${pushed.stderr}${pushed.stdout}`)
    }
    say('pushed cfc-sense 1.0.0, 1.1.0 and 2.0.0 to the model store')
    await saveGroups(cliEnv)

    writeWrappers(join(dir, 'bin'))
    // LLN_SIGNING_KEY: `liquid-agent model build-cfc --out new_model.liquid` signs with the sandbox's key from anywhere.
    const envLines = [
      ...Object.entries({ ...cliEnv, LLN_SIGNING_KEY: join(dir, 'publisher.pem') }).map(([k, v]) => `export ${k}=${v}`),
      `export PATH="${join(dir, 'bin')}:$PATH"`,
    ]
    writeFileSync(join(dir, 'env.sh'), `${envLines.join('\n')}\n`, { mode: 0o600 })
    const sandbox: Sandbox = {
      mqttUrl,
      apiUrl,
      consoleUrl: `${apiUrl}/ui/`,
      brokerHttpUrl,
      get brokerPersistence() {
        return brokerPersistence
      },
      brokers,
      crashBrokerNode,
      token,
      prefix,
      dir,
      modelsDir,
      control,
      deviceApi,
      services,
      controllers,
      crashController,
      restartController,
      restartBroker,
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

/** The named targets the runbook types: its environments, and production's two blue-green colours. */
export const SANDBOX_GROUPS = [
  { name: 'simulation', selector: '' }, // every device of the sandbox is simulated
  { name: 'staging', selector: 'env=staging' },
  { name: 'production', selector: 'env=production' },
  { name: 'production-blue', selector: 'env=production', colour: 'blue' },
  { name: 'production-green', selector: 'env=production', colour: 'green' },
] as const

async function saveGroups(env: Record<string, string>): Promise<void> {
  for (const g of SANDBOX_GROUPS) {
    const colour = 'colour' in g ? ['--colour', g.colour] : []
    const saved = await run('liquid-lln', ['group', 'add', g.name, '--selector', g.selector, ...colour], { env })
    if (saved.code !== 0) throw new Error(`liquid-lln group add ${g.name} failed:\n${saved.stderr}${saved.stdout}`)
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
