// Validates docs/asyncapi.yaml with @asyncapi/parser and prints the diagnostics as JSON.
// Run in its own process: the parser's dependency tree does not load under vitest's module runner.
import { readFileSync } from 'node:fs'
import { Parser } from '@asyncapi/parser'

const file = process.argv[2] ?? 'docs/asyncapi.yaml'
const { diagnostics } = await new Parser().parse(readFileSync(file, 'utf8'))
const out = diagnostics.map((d) => ({ severity: d.severity, path: d.path.join('.'), message: d.message }))
process.stdout.write(`${JSON.stringify(out)}\n`)
process.exit(out.some((d) => d.severity === 0) ? 1 : 0)
