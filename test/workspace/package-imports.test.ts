import { readFileSync, readdirSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

/**
 * Every bare import in a package's source is a dependency of that package (so each package
 * installs and deploys alone: a device never gets BullMQ), and no relative import leaves the
 * package. Cycles are madge's job (`npm run check:cycles`), the workspace graph ESLint's.
 */
const root = join(import.meta.dirname, '..', '..')
const PACKAGES = ['protocol', 'package', 'config', 'http', 'broker', 'agent', 'devices', 'controller', 'cli', 'console']
// Static imports and re-exports, dynamic imports and side-effect imports.
const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g
const BUILTINS = new Set(builtinModules)

interface Manifest {
  name: string
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.name === 'node_modules'
      ? []
      : e.isDirectory()
        ? sourceFiles(join(dir, e.name))
        : /\.[cm]?[jt]sx?$/.test(e.name)
          ? [join(dir, e.name)]
          : [],
  )
}

function packageName(specifier: string): string {
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? `${parts[0] ?? ''}/${parts[1] ?? ''}` : (parts[0] ?? '')
}

function manifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) as Manifest
}

/** Bare specifiers `file` imports that are neither built in nor declared (a package may import itself by name). */
function undeclared(file: string, own: string, declared: ReadonlySet<string>): string[] {
  const out: string[] = []
  for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3] ?? ''
    if (spec.startsWith('.') || spec.startsWith('node:') || BUILTINS.has(spec)) continue
    const name = packageName(spec)
    if (name !== own && !declared.has(name)) out.push(`${relative(root, file)}: '${spec}' is not declared by ${own}`)
  }
  return out
}

describe('package imports', () => {
  it.each(PACKAGES)('%s imports only its declared dependencies and its own files', (pkg) => {
    const m = manifest(pkg)
    const declared = new Set(Object.keys(m.dependencies ?? {}))
    const problems: string[] = []
    for (const file of sourceFiles(join(root, pkg, 'src'))) {
      problems.push(...undeclared(file, m.name, declared))
      for (const r of readFileSync(file, 'utf8').matchAll(IMPORT)) {
        const spec = r[1] ?? r[2] ?? r[3] ?? ''
        if (spec.startsWith('.') && !resolve(file, '..', spec).startsWith(join(root, pkg, 'src'))) {
          problems.push(`${relative(root, file)}: '${spec}' leaves ${pkg}/src`)
        }
      }
    }
    expect(problems).toEqual([])
  })

  it('test declares what it imports: the harness and the sandbox from dependencies, test files from either list', () => {
    const m = manifest('test')
    const runtime = new Set(Object.keys(m.dependencies ?? {}))
    const all = new Set([...runtime, ...Object.keys(m.devDependencies ?? {})])
    const files = sourceFiles(join(root, 'test'))
    const problems = files.flatMap((f) => undeclared(f, m.name, /\.test\.[cm]?[jt]sx?$/.test(f) ? all : runtime))
    expect(files.length).toBeGreaterThan(30)
    expect(problems).toEqual([])
  })
})
