import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createConnection, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitFor } from '@liquid-edge/test/harness'

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function accepts(port: number): Promise<boolean> {
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

export interface ChildServer {
  readonly url: string
  readonly port: number
  stop(): Promise<void>
  /** Start again on the same port (and data directory). */
  start(): Promise<void>
}

async function childServer(
  scheme: string,
  command: string,
  args: (port: number, dir: string) => string[],
): Promise<ChildServer & AsyncDisposable> {
  const port = await freePort()
  const dir = await mkdtemp(join(tmpdir(), `lln-${command}-`))
  let child: ChildProcess | undefined
  const start = async () => {
    const proc = spawn(command, args(port, dir), { stdio: 'ignore' })
    child = proc
    await waitFor(() => proc.exitCode === null && accepts(port), { timeoutMs: 10_000, what: `${command} on ${port}` })
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

/** A private redis-server (no persistence to disk) on a free port, for tests that need a Redis of their own. */
export function startRedisServer(): Promise<ChildServer & AsyncDisposable> {
  return childServer('redis', 'redis-server', (port, dir) => [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
  ])
}

/** A private nats-server with JetStream (file store in a temp dir) on a free port. */
export function startNatsServer(): Promise<ChildServer & AsyncDisposable> {
  return childServer('nats', 'nats-server', (port, dir) => ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir])
}
