import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createConnection, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from './wait.js'

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host: '127.0.0.1' })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => {
      resolve(false)
    })
  })
}

/** A server process of a test's own (redis-server, nats-server) on a free port. */
export interface ChildServer {
  readonly url: string
  readonly port: number
  /** SIGKILL, as a crash would: no shutdown work at all. */
  stop(): Promise<void>
  /** Start again on the same port (and data directory). */
  start(): Promise<void>
}

/**
 * `command` as a server on `port` (a free one unless given), in a temporary directory of its own
 * (removed on dispose); started means the process runs and the port accepts connections.
 */
export async function childServer(
  scheme: string,
  command: string,
  args: (port: number, dir: string) => string[],
  options: { port?: number } = {},
): Promise<ChildServer & AsyncDisposable> {
  const port = options.port ?? (await freePort())
  const dir = await mkdtemp(join(tmpdir(), `lln-${command}-`))
  let child: ChildProcess | undefined
  const start = async () => {
    const proc = spawn(command, args(port, dir), { stdio: 'ignore' })
    child = proc
    await waitFor(() => proc.exitCode === null && accepts(port), { timeoutMs: 30_000, what: `${command} on ${port}` })
  }
  const stop = async () => {
    const proc = child
    child = undefined
    if (proc === undefined || proc.exitCode !== null) return
    const exited = once(proc, 'exit')
    proc.kill('SIGKILL')
    await exited
  }
  await start()
  const dispose = async () => {
    await stop()
    await rm(dir, { recursive: true, force: true })
  }
  return { url: `${scheme}://127.0.0.1:${port}`, port, stop, start, [Symbol.asyncDispose]: dispose }
}

/**
 * A private redis-server on a free port, for tests that need a Redis of their own. Nothing goes
 * to disk unless `durable`: then every write is in its append-only file before it is answered,
 * so a SIGKILL and a `start()` lose nothing acknowledged (a Redis restart in production).
 */
export function startRedisServer(options: { durable?: boolean } = {}): Promise<ChildServer & AsyncDisposable> {
  const disk = options.durable === true ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']
  return childServer('redis', 'redis-server', (port, dir) => [
    ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir],
    ...disk,
  ])
}

/**
 * A private Mosquitto on a free port (no authentication, in-memory only), for benchmarks and tests
 * that need a broker in a process of its own. `unboundedQueues`: no per-client queue limit (by
 * default Mosquitto drops messages beyond 1,000 queued for a slow subscriber), so a bench measures
 * how fast a consumer takes messages rather than what the broker's drop policy throws away.
 * `auth`: configuration in place of `allow_anonymous true`, e.g. `liquid-lln broker-config mosquitto`'s.
 */
export function startMosquitto(options: { unboundedQueues?: boolean; auth?: string } = {}): Promise<ChildServer & AsyncDisposable> {
  return childServer('mqtt', 'mosquitto', (port, dir) => {
    const conf = join(dir, 'mosquitto.conf')
    const limits = options.unboundedQueues === true ? 'max_queued_messages 0\nmax_queued_bytes 0\n' : ''
    // Started as root, Mosquitto drops to the user `mosquitto`, who could not read a password file of 0600 ours.
    const auth = options.auth === undefined ? 'allow_anonymous true\n' : `${options.auth}\nuser root\n`
    // Any persistence an `auth` text turns on stays in the server's own directory.
    writeFileSync(conf, `listener ${port} 127.0.0.1\n${auth}\npersistence false\npersistence_location ${dir}/\n${limits}`)
    return ['-c', conf]
  })
}

/** A private nats-server with JetStream (file store in a temp dir) on a free port. */
export function startNatsServer(): Promise<ChildServer & AsyncDisposable> {
  return childServer('nats', 'nats-server', (port, dir) => ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir])
}

/**
 * A private nats-server with JetStream whose MQTT listener is on a free port (`url` is
 * `mqtt://…`; its NATS port is a random one). `config`: text added to its configuration, e.g. the
 * accounts block of `liquid-lln broker-config nats`.
 */
export function startNatsMqttServer(options: { config?: string } = {}): Promise<ChildServer & AsyncDisposable> {
  return childServer('mqtt', 'nats-server', (port, dir) => {
    const conf = join(dir, 'nats-server.conf')
    const lines = [
      'server_name: lln-test',
      'host: 127.0.0.1',
      'port: -1',
      `jetstream { store_dir: "${join(dir, 'js')}" }`,
      `mqtt { listen: 127.0.0.1:${String(port)} }`,
      options.config ?? '',
    ]
    writeFileSync(conf, `${lines.join('\n')}\n`)
    return ['-c', conf]
  })
}

/** The soft limit on open files of this process (and of the processes it starts), where Linux says it; else `null`. */
export function openFileLimit(): number | null {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    return m === null ? null : Number(m[1])
  } catch {
    return null
  }
}
