import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { resolve } from 'node:path'
import { Redis } from 'ioredis'
import { RedisCredentialStore } from '@liquid-edge/broker'
import { accepts, freePort, startRedisServer, waitFor, type ChildServer } from '@liquid-edge/test/harness'

const BIN = resolve(import.meta.dirname, '../src/bin/liquid-broker.ts')

/** A `liquid-broker` process run from source. */
export interface BrokerProcess extends AsyncDisposable {
  readonly url: string
  readonly port: number
  /** What the process wrote (JSON log lines), for failure messages. */
  output(): string
  /** SIGKILL: no shutdown work at all, as in a crash or an OOM kill. */
  kill(): Promise<void>
  /** SIGTERM and wait for the graceful exit code. */
  stop(): Promise<number | null>
}

/**
 * Start `liquid-broker` with `env` (LLN_* variables) on `port` (a free one by default: pass the
 * old port to restart a node where its clients reconnect); resolves once it accepts connections.
 */
export async function startBrokerProcess(env: Record<string, string>, port?: number): Promise<BrokerProcess> {
  const bound = port ?? (await freePort())
  const child = spawn(process.execPath, ['--conditions=@liquid-edge/source', '--import', 'tsx', BIN], {
    env: { ...process.env, LLN_BROKER_HOST: '127.0.0.1', LLN_MQTT_PORT: String(bound), LLN_HTTP_ENABLED: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout.on('data', (b: Buffer) => (out += b.toString()))
  child.stderr.on('data', (b: Buffer) => (out += b.toString()))
  const exited = once(child, 'exit') as Promise<[number | null]>
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  }
  const up = await waitFor(async () => child.exitCode !== null || (await accepts(bound)), {
    timeoutMs: 45_000,
    what: 'liquid-broker to start',
  }).catch(async (err: unknown) => {
    await kill()
    throw err
  })
  if (up && child.exitCode !== null) throw new Error(`liquid-broker exited before it listened:\n${out.slice(-3000)}`)
  return {
    url: `mqtt://127.0.0.1:${bound}`,
    port: bound,
    output: () => out,
    kill,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      const [code] = await exited
      return code
    },
    [Symbol.asyncDispose]: kill,
  }
}

/** A redis-server of a test's own with a credential store on it, and `liquid-broker` nodes on Redis persistence. */
export interface RedisNodes extends AsyncDisposable {
  readonly store: RedisCredentialStore
  /** The Redis itself (to crash and restart it). */
  readonly redis: ChildServer
  /** Start node `brokerId` under topic `root` (on `port`, to restart one where its clients were). */
  node(brokerId: string, root: string, port?: number): Promise<BrokerProcess>
}

/**
 * A private Redis for broker processes on Redis persistence: aedes-persistence-redis and
 * mqemitter-redis have no key or channel prefix, so they must not share the machine's Redis.
 */
export async function startRedisNodes(options: { durable?: boolean } = {}): Promise<RedisNodes> {
  const redis = await startRedisServer(options)
  const conn = new Redis(redis.url)
  // A test may restart this Redis: the connection reconnects by itself, and its errors meanwhile are expected.
  conn.on('error', () => undefined)
  const store = new RedisCredentialStore({ redis: conn, prefix: 'nodes' })
  return {
    store,
    redis,
    node: (brokerId, root, port) =>
      startBrokerProcess(
        {
          LLN_ROOT: root,
          LLN_BROKER_ID: brokerId,
          LLN_PERSISTENCE: 'redis',
          LLN_REDIS_URL: redis.url,
          LLN_CREDENTIALS_STORE: 'redis',
          LLN_CREDENTIALS_PREFIX: 'nodes',
          LLN_LOG_LEVEL: 'warn',
        },
        port,
      ),
    async [Symbol.asyncDispose]() {
      await store.close()
      conn.disconnect()
      await redis[Symbol.asyncDispose]()
    },
  }
}
