import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { waitFor } from '@liquid-edge/test/harness'

const BIN = fileURLToPath(new URL('../../src/bin/liquid-agent.ts', import.meta.url))
const REPO = fileURLToPath(new URL('../../../', import.meta.url))

export interface CliProcess extends AsyncDisposable {
  child: ChildProcess
  stdout(): string
  stderr(): string
  /** Wait until stdout matches; returns the match. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>
  exited: Promise<number | null>
}

/** Start `liquid-agent …` from the TypeScript sources, as e2e tests and users without a build do. */
export function startCli(args: string[], env: Record<string, string> = {}): CliProcess {
  const child = spawn(process.execPath, ['--conditions=@liquid-edge/source', '--import', 'tsx', BIN, ...args], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (c: Buffer) => (out += c.toString()))
  child.stderr.on('data', (c: Buffer) => (err += c.toString()))
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForOutput: (pattern, timeoutMs = 20_000) =>
      waitFor(() => pattern.exec(out), { timeoutMs, what: `output ${String(pattern)} (stderr: ${err.slice(-500)})` }),
    async [Symbol.asyncDispose]() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    },
  }
}

/** Run `liquid-agent …` to completion. */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = startCli(args, env)
  const code = await p.exited
  return { code, stdout: p.stdout(), stderr: p.stderr() }
}
