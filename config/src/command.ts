import { Option, type Command } from 'commander'
import type { Setting } from './define.js'

const collect = (value: string, previous: unknown): string[] => [...(Array.isArray(previous) ? (previous as string[]) : []), value]

function shown(value: unknown): string | null {
  if (value === undefined || value === null || value === '') return null
  if (Array.isArray(value)) return value.length === 0 ? null : value.join(',')
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : null
}

/** The help line of a setting: its text, then where else it comes from and its default. */
export function describeSetting(s: Setting): string {
  const extra = [s.env === null ? null : `env ${s.env}`, shown(s.defaultValue) === null ? null : `default ${shown(s.defaultValue) ?? ''}`]
  const tail = extra.filter((x) => x !== null).join('; ')
  return tail === '' ? s.help : `${s.help} (${tail})`
}

/** The commander option of a setting. */
export function optionOf(s: Setting & { flag: string }): Option {
  const option = new Option(s.flag, describeSetting(s))
  if (s.choices !== undefined && (option.required || option.optional)) option.choices(s.choices)
  if (s.repeatable) option.argParser(collect)
  return option
}

/** Environment-only settings (no flag), as an indented table for the end of `--help`. */
export function envOnlyHelp(settings: readonly Setting[]): string {
  const rows = settings.filter((s) => s.flag === null && s.env !== null)
  if (rows.length === 0) return ''
  const width = Math.max(...rows.map((s) => (s.env ?? '').length))
  return `\nEnvironment variables without a flag:\n${rows.map((s) => `  ${(s.env ?? '').padEnd(width)}  ${describeSetting({ ...s, env: null })}`).join('\n')}\n`
}

/**
 * Add `-c, --config <file>` and one option per setting to `command` (settings named in `only`, if
 * given), with the environment variable and default in each help line.
 */
export function addSettingOptions(command: Command, settings: readonly Setting[], only?: readonly string[]): Command {
  command.option('-c, --config <file>', 'JSON config file, keys as in the configuration; flags and env override it (env LLN_CONFIG)')
  const chosen = only === undefined ? settings : settings.filter((s) => only.includes(s.key))
  for (const s of chosen) if (s.flag !== null) command.addOption(optionOf({ ...s, flag: s.flag }))
  const extra = envOnlyHelp(chosen)
  if (extra !== '') command.addHelpText('after', extra)
  return command
}
