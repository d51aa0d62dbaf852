import { readFileSync } from 'node:fs'
import { Option } from 'commander'
import type * as z from 'zod'
import { FleetError } from '@liquid-edge/protocol'
import type { Setting } from './define.js'

type Json = Record<string, unknown>
/** Environment variables (injected: only composition roots read `process.env`). */
export type Env = Readonly<Record<string, string | undefined>>

/** Where a configuration comes from, lowest precedence first: schema defaults, file, env, flags, values. */
export interface ConfigSources {
  env?: Env
  /** Parsed commander options (`command.opts()`); `config` names the JSON file. */
  flags?: Readonly<Record<string, unknown>>
  /** The file layer itself, instead of reading `--config` or `LLN_CONFIG`. */
  file?: Json
  /** Values set by the program (highest precedence), shaped like the configuration. */
  values?: Json
}

const SECRET = /password|secret|token/i
const TRUE = ['1', 'true', 'yes', 'on']
const FALSE = ['0', 'false', 'no', 'off']

/** Text from a flag or the environment → what the schema expects for this setting. */
export function coerce(setting: Setting, value: unknown): unknown {
  if (setting.raw || typeof value !== 'string') return value
  switch (setting.kind) {
    case 'number':
      return value.trim() === '' ? Number.NaN : Number(value)
    case 'boolean':
      return TRUE.includes(value.toLowerCase()) ? true : FALSE.includes(value.toLowerCase()) ? false : value
    case 'list':
      return value
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
    default:
      return value
  }
}

function setPath(target: Json, path: readonly string[], value: unknown): void {
  let node = target
  for (const key of path.slice(0, -1)) {
    const next = node[key]
    node = (typeof next === 'object' && next !== null && !Array.isArray(next) ? next : (node[key] = {})) as Json
  }
  node[path.at(-1) ?? ''] = value
}

function getPath(source: unknown, path: readonly string[]): unknown {
  let node = source
  for (const key of path) node = typeof node === 'object' && node !== null ? (node as Json)[key] : undefined
  return node
}

/** Deep-merge plain objects; later layers win, arrays and scalars are replaced. */
export function mergeLayers(...layers: readonly Json[]): Json {
  const out: Json = {}
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      const prev = out[k]
      const both =
        typeof v === 'object' && v !== null && !Array.isArray(v) && typeof prev === 'object' && prev !== null && !Array.isArray(prev)
      out[k] = both ? mergeLayers(prev as Json, v as Json) : v
    }
  }
  return out
}

/** The commander attribute a flag's value arrives under (`--no-mqtt` → `mqtt`). */
export function attributeOf(flag: string): string {
  return new Option(flag).attributeName()
}

function readFile(path: string): Json {
  try {
    const value: unknown = JSON.parse(readFileSync(path, 'utf8'))
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('it does not hold a JSON object')
    return value as Json
  } catch (err) {
    throw new FleetError('CONFIG_INVALID', `config file ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
}

/** What the command line sets, and which flag set each setting. */
function flagLayer(settings: readonly Setting[], flags: Readonly<Record<string, unknown>>, sources: Map<string, string>): Json {
  const layer: Json = {}
  for (const s of settings) {
    if (s.flag === null) continue
    const option = new Option(s.flag)
    const value = flags[option.attributeName()]
    if (value === undefined) continue
    const takesValue = option.required || option.optional
    if (option.negate ? value !== false : !takesValue && value !== true) continue
    for (const [key, implied] of Object.entries(s.implies)) setPath(layer, key.split('.'), implied)
    setPath(layer, s.path, option.negate ? false : coerce(s, value))
    sources.set(s.key, `${option.long ?? s.flag}${takesValue ? ` ${show(s, value)}` : ''}`)
  }
  return layer
}

function envLayer(settings: readonly Setting[], env: Env, sources: Map<string, string>): Json {
  const layer: Json = {}
  for (const s of settings) {
    const text = s.env === null ? undefined : env[s.env]
    if (text === undefined || text === '' || s.env === null) continue
    setPath(layer, s.path, coerce(s, text))
    sources.set(s.key, `${s.env}=${show(s, text)}`)
  }
  return layer
}

const show = (s: Setting, value: unknown): string => (SECRET.test(s.key) ? '(hidden)' : JSON.stringify(value))

/**
 * Merge the sources, validate with the schema and freeze.
 * @throws {FleetError} `CONFIG_INVALID`: one line per bad value, naming the flag, variable or file it came from.
 */
export function loadLayers<T>(name: string, schema: z.ZodType<T>, settings: readonly Setting[], sources: ConfigSources): Readonly<T> {
  const env = sources.env ?? {}
  const flags = sources.flags ?? {}
  const from = new Map<string, string>()
  const path = typeof flags.config === 'string' ? flags.config : env.LLN_CONFIG !== '' ? env.LLN_CONFIG : undefined
  const file = sources.file ?? (path === undefined ? {} : readFile(path))
  for (const s of settings)
    if (getPath(file, s.path) !== undefined) from.set(s.key, path === undefined ? 'the config file' : `config file ${path}`)
  const merged = mergeLayers(file, envLayer(settings, env, from), flagLayer(settings, flags, from), sources.values ?? {})
  const parsed = schema.safeParse(merged)
  if (!parsed.success) throw configError(name, parsed.error, settings, from)
  return Object.freeze(parsed.data)
}

/** A CONFIG_INVALID error whose lines say which setting is wrong, why, and where its value came from. */
export function configError(
  name: string,
  error: z.ZodError,
  settings: readonly Setting[],
  from: ReadonlyMap<string, string> = new Map(),
): FleetError {
  const lines = error.issues.map((issue) => {
    const key = issue.path.map(String).join('.')
    const setting = settings.find((s) => key === s.key || key.startsWith(`${s.key}.`))
    if (setting === undefined) return `  ✖ ${key === '' ? '' : `${key}: `}${issue.message}`
    const names = [setting.flag?.split(/[ ,]/)[0], setting.env].filter((n) => n != null).join(', ')
    const source = from.get(setting.key)
    return `  ✖ ${key}${names === '' ? '' : ` (${names})`}: ${issue.message}${source === undefined ? '' : `; given by ${source}`}`
  })
  return new FleetError('CONFIG_INVALID', `invalid ${name} configuration:\n${lines.join('\n')}`, {
    details: { issues: error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })) },
  })
}
