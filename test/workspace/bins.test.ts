import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

/**
 * Right after `npm ci`, without `npm run build`, every executable answers through node_modules/.bin
 * (what `npx liquid-lln` runs): its launcher runs dist/ when built, else the source through tsx.
 */
const root = join(import.meta.dirname, '..', '..')
const run = promisify(execFile)
const BINS = ['broker', 'controller', 'devices', 'cli'].flatMap((pkg) =>
  Object.keys((JSON.parse(readFileSync(join(root, pkg, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin),
)

describe('executables after npm ci', () => {
  it.each(BINS)('%s --help works from any directory, built or not', async (bin) => {
    const { stdout } = await run(join(root, 'node_modules', '.bin', bin), ['--help'], { cwd: tmpdir(), timeout: 60_000 })
    expect(stdout).toMatch(new RegExp(`^Usage: ${bin} `))
  })

  it('liquid-lln --version prints its package version', async () => {
    const { stdout } = await run(join(root, 'node_modules', '.bin', 'liquid-lln'), ['--version'], { timeout: 60_000 })
    expect(stdout.trim()).toBe((JSON.parse(readFileSync(join(root, 'cli', 'package.json'), 'utf8')) as { version: string }).version)
  })
})
