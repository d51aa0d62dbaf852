/**
 * What the deployment tests check a container's command against: the executables the packages
 * ship (`bin`), each command's `--help` (the real bin, run from source as the e2e tests run it),
 * and the LLN_* variables each executable reads.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { brokerConfig } from '@liquid-edge/broker'
import { controllerConfig } from '@liquid-edge/controller'
import { runConfig, simulateConfig } from '@liquid-edge/devices'

const run = promisify(execFile)
export const ROOT = join(import.meta.dirname, '..', '..')
export const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8')
/** Node flags that run a TypeScript bin from source. */
export const NODE_SOURCE = ['--conditions=@liquid-edge/source', '--import', 'tsx']

/** Executable name → its TypeScript source, from each package's `bin` field (dist/bin/x.js → src/bin/x.ts). */
export const BINS = new Map<string, { pkg: string; source: string }>()
for (const pkg of ['broker', 'controller', 'cli', 'devices']) {
  const bins = (JSON.parse(read(`${pkg}/package.json`)) as { bin?: Record<string, string> }).bin ?? {}
  for (const [name, file] of Object.entries(bins))
    BINS.set(name, { pkg, source: join(pkg, 'src', file.replace(/^dist\//, '').replace(/\.js$/, '.ts')) })
}

/** Subcommand words (and positionals) before the first flag. */
export function commandPath(argv: string[]): string[] {
  const i = argv.findIndex((a, n) => n > 0 && a.startsWith('-'))
  return argv.slice(1, i < 0 ? undefined : i)
}

const helpCache = new Map<string, Promise<string>>()
/** Two at a time: this machine has two cores and other suites run beside this one. */
const queue: (() => void)[] = []
let running = 0
async function limited<T>(task: () => Promise<T>): Promise<T> {
  if (running >= 2) await new Promise<void>((resolve) => queue.push(resolve))
  running += 1
  try {
    return await task()
  } finally {
    running -= 1
    queue.shift()?.()
  }
}

/** `--help` of the real executable, run from source. */
export function help(bin: string, path: string[]): Promise<string> {
  const key = [bin, ...path].join(' ')
  let text = helpCache.get(key)
  if (text === undefined) {
    const source = BINS.get(bin)?.source ?? ''
    text = limited(() => run(process.execPath, [...NODE_SOURCE, source, ...path, '--help'], { cwd: ROOT, timeout: 60_000 })).then(
      (r) => r.stdout,
    )
    helpCache.set(key, text)
  }
  return text
}

/** Long option names in the Options section of a commander help text. */
export function optionsOf(helpText: string): Set<string> {
  const out = new Set<string>()
  let inOptions = false
  for (const line of helpText.split('\n')) {
    if (/^\S.*:$/.test(line)) inOptions = line === 'Options:'
    const m = inOptions ? /^ {2}(?:-\w, )?(--[a-z0-9-]+)/.exec(line) : null
    if (m?.[1] !== undefined) out.add(m[1])
  }
  return out
}

/** LLN_* variables an executable reads, besides those its help names. */
export function envOf(bin: string): Set<string> {
  if (bin === 'liquid-broker') return new Set(brokerConfig.envNames)
  if (bin === 'liquid-controller') return new Set(controllerConfig.envNames)
  if (bin === 'liquid-agent') return new Set([...runConfig.envNames, ...simulateConfig.envNames])
  return new Set()
}

/** LLN_* variables `bin` (for the command `path`) reads: its config schema's and those its help names. */
export async function variablesOf(bin: string, path: string[]): Promise<Set<string>> {
  const own = envOf(bin)
  // liquid-lln reads its variables in the root command (its help names them); the others have a config schema.
  const helpText = (await help(bin, path)) + (own.size === 0 ? await help(bin, []) : '')
  return new Set([...own, ...[...helpText.matchAll(/\bLLN_[A-Z0-9_]+/g)].map((m) => m[0])])
}

/** Variables read by the container scripts (deploy/docker), never by an executable. */
export const SCRIPT_VARS = new Set([...read('deploy/docker/entrypoint.sh').matchAll(/\b(ENTRYPOINT_[A-Z_]+)/g)].map((m) => m[1] ?? ''))
SCRIPT_VARS.add('HEALTH_URL')
