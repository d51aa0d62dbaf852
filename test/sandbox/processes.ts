/**
 * Child processes of the sandbox and the e2e tests: the real executables (`liquid-broker`,
 * `liquid-controller`, `liquid-agent`, `liquid-lln`) run from source, each with its log in a file.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { waitFor } from '../harness/wait.js'

/** The repository root. */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Entry points of the executables, run from source through tsx (no build step). */
export const BINS = {
  'liquid-broker': join(REPO, 'broker/src/bin/liquid-broker.ts'),
  'liquid-controller': join(REPO, 'controller/src/bin/liquid-controller.ts'),
  'liquid-lln': join(REPO, 'cli/src/bin/liquid-lln.ts'),
  'liquid-agent': join(REPO, 'devices/src/bin/liquid-agent.ts'),
} as const
export type Bin = keyof typeof BINS
const TSX_LOADER = pathToFileURL(join(REPO, 'node_modules/tsx/dist/loader.mjs')).href

/** Shell wrappers for the executables (so that `liquid-lln …` works from any directory). */
export function writeWrappers(dir: string): void {
  mkdirSync(dir, { recursive: true })
  for (const bin of Object.keys(BINS) as Bin[]) {
    const quoted = nodeArgs(bin, [])
      .map((a) => `'${a}'`)
      .join(' ')
    writeFileSync(join(dir, bin), `#!/bin/sh\nexec '${process.execPath}' ${quoted} "$@"\n`, { mode: 0o755 })
  }
}

/** `node` arguments that run an executable from source (tsx by absolute path: any working directory works). */
export function nodeArgs(bin: Bin, args: readonly string[]): string[] {
  return ['--conditions=@liquid-edge/source', '--import', TSX_LOADER, BINS[bin], ...args]
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Run an executable to completion (a CLI call), with a deadline. */
export async function run(
  bin: Bin,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  const child = spawn(process.execPath, nodeArgs(bin, args), {
    cwd: options.cwd ?? REPO,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs ?? 120_000,
    killSignal: 'SIGKILL',
  })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

/**
 * Run any command to completion in its own process group, output collected. Past `deadlineMs` the
 * whole group gets SIGINT (as a Ctrl-C would: it stops what the command started), then SIGKILL a
 * minute later.
 */
export async function runCommand(
  cmd: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; deadlineMs: number },
): Promise<{ code: number | null; out: string }> {
  const child = spawn(cmd, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d))
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-(child.pid ?? 0), sig)
    } catch {
      // the group is gone already
    }
  }
  const interrupt = AbortSignal.timeout(options.deadlineMs)
  const kill = AbortSignal.timeout(options.deadlineMs + 60_000)
  const onInterrupt = () => {
    signalGroup('SIGINT')
  }
  const onKill = () => {
    signalGroup('SIGKILL')
  }
  interrupt.addEventListener('abort', onInterrupt, { once: true })
  kill.addEventListener('abort', onKill, { once: true })
  const [code] = (await once(child, 'exit')) as [number | null]
  interrupt.removeEventListener('abort', onInterrupt)
  kill.removeEventListener('abort', onKill)
  return { code, out }
}

/** A long-running service process with its output in a log file. */
export interface Service {
  readonly name: string
  readonly child: ChildProcess
  readonly logFile: string
  /** Resolves when the process exits. */
  readonly exited: Promise<number | null>
  /** SIGTERM, then SIGKILL after `graceMs`. Idempotent. */
  stop(graceMs?: number): Promise<void>
  /** SIGKILL now (crash tests). */
  kill(): Promise<void>
}

export function startService(
  name: string,
  bin: Bin,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; logDir: string },
): Service {
  mkdirSync(options.logDir, { recursive: true })
  const logFile = join(options.logDir, `${name}.log`)
  const log = createWriteStream(logFile, { flags: 'a' })
  const child = spawn(process.execPath, nodeArgs(bin, args), {
    cwd: options.cwd ?? REPO,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout.pipe(log, { end: false })
  child.stderr.pipe(log, { end: false })
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      log.end()
      resolve(code)
    })
  })
  let stopping: Promise<void> | undefined
  const stop = (graceMs = 10_000): Promise<void> =>
    (stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      // Past the grace period, SIGKILL (a no-op once the process has exited).
      AbortSignal.timeout(graceMs).addEventListener('abort', () => child.kill('SIGKILL'), { once: true })
      await exited
    })())
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  }
  return { name, child, logFile, exited, stop, kill }
}

/** A free TCP port on 127.0.0.1 (or `preferred` when it is free). */
export async function freePort(preferred = 0): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<number | null>((resolve) => {
      const server = createServer()
      server.once('error', () => {
        resolve(null)
      })
      server.listen(port, '127.0.0.1', () => {
        const { port: got } = server.address() as AddressInfo
        server.close(() => {
          resolve(got)
        })
      })
    })
  return (preferred > 0 ? await tryPort(preferred) : null) ?? (await tryPort(0)) ?? 0
}

/** Poll an HTTP URL until it answers 2xx, the service exits, or the deadline passes. */
export async function waitForHttp(url: string, service: Service, timeoutMs = 60_000): Promise<void> {
  const outcome = await waitFor(
    async () => {
      if (service.child.exitCode !== null || service.child.signalCode !== null) return 'exited'
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) }).catch(() => null)
      return res?.ok === true ? 'up' : null
    },
    { timeoutMs, intervalMs: 200, what: `${service.name} to answer on ${url} (see ${service.logFile})` },
  )
  if (outcome === 'exited') throw new Error(`${service.name} exited before ${url} answered; see ${service.logFile}`)
}

/** Run an executable with its output shown live (progress bars and tables), with a deadline. */
export async function runShown(
  bin: Bin,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<number | null> {
  const child = spawn(process.execPath, nodeArgs(bin, args), {
    cwd: REPO,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: options.timeoutMs ?? 600_000,
    killSignal: 'SIGKILL',
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  return code
}
