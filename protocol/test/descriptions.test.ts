import { describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { generatedDocs } from '../scripts/docs.js'

type Node = Record<string, unknown>

interface Finding {
  doc: string
  path: string
  problem: string
}

const TIME_FIELD = /(?:Ms|At)$|^ts$|^windowStart$/
const NUMERIC = new Set(['number', 'integer'])

function isNode(v: unknown): v is Node {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function hasDescription(s: Node): boolean {
  return typeof s.description === 'string' && s.description.trim().length > 0
}

/** The schema's own type(s), also through a nullable `anyOf`. */
function isNumeric(s: Node): boolean {
  const t = s.type
  return (typeof t === 'string' && NUMERIC.has(t)) || (Array.isArray(t) && t.some((x) => typeof x === 'string' && NUMERIC.has(x)))
}

/** Every property (at any depth) needs a description; time fields say their unit; numbers have a range. */
function walk(node: unknown, path: string, doc: string, out: Finding[], underMap = false): void {
  if (Array.isArray(node)) {
    node.forEach((n, i) => {
      walk(n, `${path}[${i}]`, doc, out, underMap)
    })
    return
  }
  if (!isNode(node)) return
  if (isNumeric(node) && node.const === undefined && !underMap) {
    const min = node.minimum ?? node.exclusiveMinimum
    const max = node.maximum ?? node.exclusiveMaximum
    if (min === undefined || max === undefined) out.push({ doc, path, problem: 'number without a range (minimum and maximum)' })
  }
  const props = node.properties
  if (isNode(props)) {
    for (const [name, schema] of Object.entries(props)) {
      const p = `${path}.${name}`
      if (!isNode(schema) || !hasDescription(schema)) out.push({ doc, path: p, problem: 'no description' })
      else if (TIME_FIELD.test(name) && !/milliseconds|\bms\b/i.test(schema.description as string)) {
        out.push({ doc, path: p, problem: 'a time field whose description does not say milliseconds' })
      }
      walk(schema, p, doc, out)
    }
  }
  for (const key of ['anyOf', 'oneOf', 'allOf', 'items', 'prefixItems', '$defs', 'definitions']) {
    const child = node[key]
    if (key === '$defs' || key === 'definitions') {
      if (isNode(child)) for (const [n, s] of Object.entries(child)) walk(s, `${path}.$defs.${n}`, doc, out)
    } else walk(child, `${path}.${key}`, doc, out, underMap)
  }
  // Values of free-form maps (error details, evidence) are whatever the sender measured.
  if (isNode(node.additionalProperties)) walk(node.additionalProperties, `${path}{}`, doc, out, true)
}

function schemasOf(docs: Record<string, string>): [string, unknown][] {
  const out: [string, unknown][] = []
  for (const [path, text] of Object.entries(docs)) {
    if (path.endsWith('.schema.json')) out.push([path, JSON.parse(text)])
  }
  const asyncapi = parse(docs['docs/asyncapi.yaml'] ?? '') as { components: { schemas: Record<string, unknown> } }
  for (const [name, schema] of Object.entries(asyncapi.components.schemas)) out.push([`asyncapi#${name}`, schema])
  return out
}

describe('the published contract describes every field', () => {
  const docs = generatedDocs()
  const schemas = schemasOf(docs)

  it('covers every message and the package manifest', () => {
    expect(schemas.length).toBeGreaterThanOrEqual(9 + 8)
  })

  it('every field of every generated JSON Schema and AsyncAPI schema has a description, time fields in ms, numbers with ranges', () => {
    const findings: Finding[] = []
    for (const [doc, schema] of schemas) {
      if (isNode(schema) && !hasDescription(schema)) findings.push({ doc, path: '', problem: 'no description of the message' })
      walk(schema, '', doc, findings)
    }
    expect(findings.map((f) => `${f.doc} ${f.path}: ${f.problem}`)).toEqual([])
  })

  it('the walker notices a field without a description', () => {
    const findings: Finding[] = []
    walk(
      {
        properties: {
          ok: { type: 'string', description: 'fine' },
          bare: { type: 'string' },
          waitMs: { type: 'integer', description: 'x' },
        },
      },
      '',
      'probe',
      findings,
    )
    expect(findings.map((f) => f.problem)).toEqual([
      'no description',
      'a time field whose description does not say milliseconds',
      'number without a range (minimum and maximum)',
    ])
  })
})
