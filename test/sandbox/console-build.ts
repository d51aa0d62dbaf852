/**
 * The web console's bundle for the sandbox and the browser tests: built with Vite when it is
 * missing or older than its sources (console and protocol), once even when several processes ask
 * at the same time.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { waitFor } from '../harness/wait.js'
import { REPO } from './processes.js'

const CONSOLE = join(REPO, 'console')
/** Written last by a successful build (`npm run build` too): its time is the bundle's. */
const STAMP = join(CONSOLE, 'dist', 'index.html')
const LOCK = join(CONSOLE, '.build-lock')
const SOURCES = [
  join(CONSOLE, 'src'),
  join(CONSOLE, 'index.html'),
  join(CONSOLE, 'vite.config.ts'),
  join(CONSOLE, 'package.json'),
  join(REPO, 'protocol', 'src'),
]

function newest(path: string): number {
  if (!existsSync(path)) return 0
  const st = statSync(path)
  if (!st.isDirectory()) return st.mtimeMs
  return readdirSync(path).reduce((m, name) => Math.max(m, newest(join(path, name))), st.mtimeMs)
}

/** Whether the bundle is missing or older than a source. */
export function consoleStale(): boolean {
  if (!existsSync(STAMP)) return true
  const built = statSync(STAMP).mtimeMs
  return SOURCES.some((s) => newest(s) > built)
}

async function build(): Promise<void> {
  const vite = join(REPO, 'node_modules', 'vite', 'bin', 'vite.js')
  const child = spawn(process.execPath, [vite, 'build'], { cwd: CONSOLE, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d))
  const [code] = (await once(child, 'exit')) as [number | null]
  if (code !== 0) throw new Error(`building the web console failed (vite build exited ${code}):\n${output}`)
}

/**
 * Build the console unless its bundle is fresh. Concurrent callers (parallel test files, a
 * sandbox) wait for one build through a lock directory.
 * @returns whether this call built it
 */
export async function ensureConsoleBuilt(say: (line: string) => void = () => undefined): Promise<boolean> {
  if (!consoleStale()) return false
  for (;;) {
    try {
      mkdirSync(LOCK)
      break
    } catch {
      // Another process builds it; a lock older than two minutes was left by a crash.
      if (existsSync(LOCK) && Date.now() - statSync(LOCK).mtimeMs > 120_000) rmSync(LOCK, { recursive: true, force: true })
      await waitFor(() => !existsSync(LOCK), {
        timeoutMs: 120_000,
        intervalMs: 200,
        what: 'another process to finish building the console',
      })
      if (!consoleStale()) return false
    }
  }
  try {
    if (!consoleStale()) return false
    say('building the web console (vite)…')
    await build()
    return true
  } finally {
    rmSync(LOCK, { recursive: true, force: true })
  }
}
