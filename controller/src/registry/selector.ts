import * as z from 'zod'
import { FleetError } from '@liquid-edge/protocol'

const WORD = /^[A-Za-z0-9._-]{1,63}$/
const WordSchema = z.string().regex(WORD, 'label keys and values are 1-63 of [A-Za-z0-9._-]')

/** One requirement of a label selector. */
export const RequirementSchema = z.discriminatedUnion('op', [
  z.object({ op: z.enum(['in', 'notin']), key: WordSchema, values: z.array(WordSchema).min(1).max(100) }),
  /** A bare word: the device carries it as a label key or as a label value (a group, e.g. `stm32h743`). */
  z.object({ op: z.enum(['tagged', 'untagged']), word: WordSchema }),
])
export type Requirement = z.infer<typeof RequirementSchema>
export const SelectorSchema = z.array(RequirementSchema).max(32)
export type Selector = z.infer<typeof SelectorSchema>
export type Labels = Readonly<Record<string, string>>

type Token = { kind: 'word'; text: string } | { kind: 'op'; text: string }

function tokenize(source: string): Token[] {
  const tokens: Token[] = []
  const re = /\s*(?:(==|!=|=|!|,|\(|\))|([A-Za-z0-9._-]+))/y
  let at = 0
  while (at < source.length) {
    if (/^\s*$/.test(source.slice(at))) break
    re.lastIndex = at
    const m = re.exec(source)
    if (m === null) throw invalid(source, `unexpected '${source.slice(at).trim().slice(0, 1)}' at ${at + 1}`)
    tokens.push(m[1] !== undefined ? { kind: 'op', text: m[1] } : { kind: 'word', text: m[2] ?? '' })
    at = re.lastIndex
  }
  return tokens
}

function invalid(source: string, why: string): FleetError {
  return new FleetError('REGISTRY_INVALID_SELECTOR', `invalid selector '${source}': ${why}`)
}

/** A recursive-descent parser over the tokens of one selector. */
class Parser {
  private i = 0
  constructor(
    private readonly source: string,
    private readonly tokens: Token[],
  ) {}

  parse(): Requirement[] {
    const out: Requirement[] = []
    if (this.tokens.length === 0) return out
    for (;;) {
      out.push(this.requirement())
      const t = this.next()
      if (t === undefined) return out
      if (t.text !== ',') throw this.fail(`expected ',' but found '${t.text}'`)
    }
  }

  private next(): Token | undefined {
    return this.tokens[this.i++]
  }
  private peek(): Token | undefined {
    return this.tokens[this.i]
  }
  private fail(why: string): FleetError {
    return invalid(this.source, why)
  }
  private word(what: string): string {
    const t = this.next()
    if (t?.kind !== 'word') throw this.fail(`expected ${what}${t === undefined ? ' at the end' : ` but found '${t.text}'`}`)
    return t.text
  }

  private requirement(): Requirement {
    if (this.peek()?.text === '!') {
      this.next()
      return { op: 'untagged', word: this.word('a label after !') }
    }
    const key = this.word('a label key')
    const t = this.peek()
    if (t === undefined || t.text === ',') return { op: 'tagged', word: key }
    this.next()
    if (t.text === '=' || t.text === '==') return { op: 'in', key, values: [this.word(`a value for '${key}'`)] }
    if (t.text === '!=') return { op: 'notin', key, values: [this.word(`a value for '${key}'`)] }
    if (t.kind === 'word' && (t.text === 'in' || t.text === 'notin')) return { op: t.text, key, values: this.list(key) }
    throw this.fail(`expected =, !=, in or notin after '${key}' but found '${t.text}'`)
  }

  private list(key: string): string[] {
    if (this.next()?.text !== '(') throw this.fail(`expected '(' after '${key} in'`)
    const values = [this.word(`a value in the list of '${key}'`)]
    for (;;) {
      const t = this.next()
      if (t?.text === ')') return values
      if (t?.text !== ',') throw this.fail(`expected ',' or ')' in the list of '${key}'`)
      values.push(this.word(`a value in the list of '${key}'`))
    }
  }
}

/**
 * Parse a label selector such as `env=production,hw in (stm32h743,rpi4),!canary`: `k=v`, `k==v`,
 * `k!=v`, `k in (a,b)`, `k notin (a,b)`, a bare word (a group: a label key or value the device
 * carries) and `!word` (it carries neither). An empty selector matches every device.
 * @throws {FleetError} `REGISTRY_INVALID_SELECTOR`
 */
export function parseSelector(source: string): Selector {
  if (source.length > 2048) throw invalid(source.slice(0, 64), 'longer than 2048 characters')
  const parsed = SelectorSchema.safeParse(new Parser(source, tokenize(source)).parse())
  if (!parsed.success) throw invalid(source, z.prettifyError(parsed.error))
  return parsed.data
}

/** True when `labels` satisfy every requirement. */
export function matchesSelector(selector: Selector, labels: Labels): boolean {
  return selector.every((r) => {
    switch (r.op) {
      case 'in':
        return labels[r.key] !== undefined && r.values.includes(labels[r.key] ?? '')
      case 'notin':
        return labels[r.key] === undefined || !r.values.includes(labels[r.key] ?? '')
      case 'tagged':
        return r.word in labels || Object.values(labels).includes(r.word)
      case 'untagged':
        return !(r.word in labels) && !Object.values(labels).includes(r.word)
    }
  })
}

/** Canonical text of a selector (what `parseSelector` reads back to the same requirements). */
export function formatSelector(selector: Selector): string {
  return selector
    .map((r: Requirement): string => {
      if ('word' in r) return r.op === 'tagged' ? r.word : `!${r.word}`
      if (r.values.length === 1) return `${r.key}${r.op === 'in' ? '=' : '!='}${r.values[0] ?? ''}`
      return `${r.key} ${r.op} (${r.values.join(',')})`
    })
    .join(',')
}

/** Labels written as `k=v,k2=v2` (CLI `--labels`). @throws {FleetError} `REGISTRY_INVALID_SELECTOR` */
export function parseLabels(source: string): Record<string, string> {
  const out: Record<string, string> = {}
  if (source.trim() === '') return out
  for (const part of source.split(',')) {
    const [k, v, extra] = part.split('=').map((s) => s.trim())
    if (k === undefined || v === undefined || extra !== undefined || !WORD.test(k) || !WORD.test(v)) {
      throw new FleetError('REGISTRY_INVALID_SELECTOR', `invalid label '${part}': write key=value with 1-63 of [A-Za-z0-9._-]`)
    }
    out[k] = v
  }
  return out
}
