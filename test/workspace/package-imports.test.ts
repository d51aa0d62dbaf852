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
const PACKAGES = ['protocol', 'broker', 'agent', 'devices', 'controller']
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g
const BUILTINS = new Set(builtinModules)

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}

function packageName(specifier: string): string {
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? `${parts[0] ?? ''}/${parts[1] ?? ''}` : (parts[0] ?? '')
}

describe('package imports', () => {
  it.each(PACKAGES)('%s imports only its declared dependencies and its own files', (pkg) => {
    const manifest = JSON.parse(readFileSync(join(root, pkg, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }
    const declared = new Set(Object.keys(manifest.dependencies ?? {}))
    const problems: string[] = []
    for (const file of sourceFiles(join(root, pkg, 'src'))) {
      for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
        const spec = m[1] ?? m[2] ?? ''
        const where = relative(root, file)
        if (spec.startsWith('.')) {
          if (!resolve(file, '..', spec).startsWith(join(root, pkg, 'src'))) problems.push(`${where}: '${spec}' leaves ${pkg}/src`)
        } else if (!spec.startsWith('node:') && !BUILTINS.has(spec) && !declared.has(packageName(spec))) {
          problems.push(`${where}: '${spec}' is not a dependency of @liquid-edge/${pkg}`)
        }
      }
    }
    expect(problems).toEqual([])
  })
})
