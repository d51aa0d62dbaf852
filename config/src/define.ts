import type * as z from 'zod'
import { leavesOf, type Leaf } from './leaves.js'

/** How one setting is reached from the command line and the environment. */
export interface SettingOptions {
  /** The environment variable; `false`: none. @defaultValue `LLN_` + the path in SCREAMING_SNAKE (`tcp.port` → `LLN_TCP_PORT`) */
  env?: string | false
  /**
   * The flag in commander syntax: `'--mqtt-port <port>'`, `'--publisher-key <file...>'`, a switch
   * (`'--allow-anonymous'`) or a negation (`'--no-mqtt'`); `false`: none.
   * @defaultValue `--` + the path in kebab-case, `<value>` (`[bool]` for a boolean)
   */
  flag?: string | false
  /** Help text. @defaultValue the schema's `.describe()` text */
  help?: string
  /** The flag may be given more than once; its values arrive as a list. */
  repeatable?: boolean
  /** Also set these settings (dotted paths) when the flag is given: `--tls-cert` turns TLS on. */
  implies?: Readonly<Record<string, unknown>>
  /** Hand flag and environment text to the schema unchanged: the schema parses it (`;`-separated rules). */
  raw?: boolean
}

/** A setting with everything resolved. */
export interface Setting extends Leaf {
  /** Dotted path, e.g. `tcp.port`. */
  key: string
  env: string | null
  flag: string | null
  help: string
  repeatable: boolean
  implies: Readonly<Record<string, unknown>>
  raw: boolean
}

/** What {@link defineConfig} takes. */
export interface ConfigDefinition<S extends z.ZodType> {
  /** Names the executable in errors: "invalid broker configuration". */
  name: string
  schema: S
  /** Per setting (dotted path): how flags and environment reach it. */
  settings?: Readonly<Record<string, SettingOptions>>
}

const snake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()
const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)

/** `redisUrl` → `LLN_REDIS_URL`, `tcp.port` → `LLN_TCP_PORT`. */
export function envNameOf(path: readonly string[]): string {
  return `LLN_${path.map(snake).join('_')}`
}

/** What the value of a flag is called in `--help`, from the setting's name and kind. */
function placeholder(leaf: Leaf): string {
  const last = leaf.path.at(-1) ?? ''
  const suffix = [
    ['Url', 'url'],
    ['Ms', 'ms'],
    ['Port', 'port'],
    ['Dir', 'dir'],
    ['File', 'file'],
    ['Id', 'id'],
  ].find(([end]) => last.endsWith(end ?? ''))
  if (suffix !== undefined) return suffix[1] ?? 'value'
  if (leaf.choices !== undefined) return last
  if (leaf.kind === 'list') return 'list'
  return leaf.kind === 'number' ? 'n' : 'value'
}

function defaultFlag(leaf: Leaf): string {
  const name = `--${leaf.path.map(kebab).join('-')}`
  return leaf.kind === 'boolean' ? `${name} [bool]` : `${name} <${placeholder(leaf)}>`
}

/** The settings of a schema with their flags and environment variables; duplicates are a programming error. */
export function resolveSettings<S extends z.ZodType>(definition: ConfigDefinition<S>): Setting[] {
  const leaves = leavesOf(definition.schema)
  const known = new Set(leaves.map((l) => l.path.join('.')))
  for (const key of Object.keys(definition.settings ?? {})) {
    if (!known.has(key)) throw new Error(`${definition.name} config: '${key}' is not a setting of the schema`)
  }
  const settings = leaves.map((leaf): Setting => {
    const key = leaf.path.join('.')
    const o = definition.settings?.[key] ?? {}
    return {
      ...leaf,
      key,
      env: o.env === false ? null : (o.env ?? envNameOf(leaf.path)),
      flag: o.flag === false ? null : (o.flag ?? defaultFlag(leaf)),
      help: o.help ?? leaf.description ?? key,
      repeatable: o.repeatable ?? false,
      implies: o.implies ?? {},
      raw: o.raw ?? false,
    }
  })
  for (const field of ['env', 'flag'] as const) {
    const seen = new Set<string>()
    for (const s of settings) {
      const name = s[field]?.split(/[ ,]/)[0]
      if (name === undefined) continue
      if (seen.has(name)) throw new Error(`${definition.name} config: ${field} ${name} is used twice`)
      seen.add(name)
    }
  }
  return settings
}
