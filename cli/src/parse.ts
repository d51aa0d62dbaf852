import { CliError, EXIT } from './client.js'

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `10m`, `30s`, `1h`, `500ms`, `1d`; a bare number is seconds. @throws {CliError} exit 2 */
export function parseDurationMs(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim())
  if (m === null) throw new CliError(`${flag}: '${text}' is not a duration (e.g. 30s, 10m, 1h)`, EXIT.USAGE, 'CLI_BAD_FLAG')
  return Math.round(Number(m[1]) * (UNITS[m[2] ?? 's'] ?? 1000))
}

/** `25%` or `25` → 25. @throws {CliError} exit 2 */
export function parsePercent(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)%?$/.exec(text.trim())
  const v = m === null ? Number.NaN : Number(m[1])
  if (!(v > 0 && v <= 100)) throw new CliError(`${flag}: '${text}' is not a percentage in (0, 100]`, EXIT.USAGE, 'CLI_BAD_FLAG')
  return v
}

export function parsePositiveInt(text: string, flag: string): number {
  const v = Number(text)
  if (!Number.isInteger(v) || v < 1) throw new CliError(`${flag}: '${text}' is not a positive whole number`, EXIT.USAGE, 'CLI_BAD_FLAG')
  return v
}

export function parseFraction(text: string, flag: string): number {
  const v = text.endsWith('%') ? Number(text.slice(0, -1)) / 100 : Number(text)
  if (!(v >= 0 && v <= 1)) throw new CliError(`${flag}: '${text}' is not a share between 0 and 1 (or 0%-100%)`, EXIT.USAGE, 'CLI_BAD_FLAG')
  return v
}

/** A version as operators write it: `v1.2.3` is `1.2.3`. */
export function parseVersion(text: string): string {
  return /^[vV]\d/.test(text) ? text.slice(1) : text
}

/** `name@version` (a leading `v` on the version is dropped). @throws {CliError} exit 2 */
export function parseModelRef(text: string): { name: string; version: string } {
  const at = text.lastIndexOf('@')
  if (at <= 0 || at === text.length - 1)
    throw new CliError(`'${text}' is neither a .liquid file nor name@version`, EXIT.USAGE, 'CLI_BAD_FLAG')
  return { name: text.slice(0, at), version: parseVersion(text.slice(at + 1)) }
}

/** Labels written as `k=v,k2=v2`; the controller validates the words. @throws {CliError} exit 2 */
export function parseLabels(text: string, flag: string): Record<string, string> {
  const out: Record<string, string> = {}
  if (text.trim() === '') return out
  for (const part of text.split(',')) {
    const [k, v, extra] = part.split('=').map((s) => s.trim())
    if (k === undefined || k === '' || v === undefined || v === '' || extra !== undefined)
      throw new CliError(`${flag}: invalid label '${part}': write key=value`, EXIT.USAGE, 'CLI_BAD_FLAG')
    out[k] = v
  }
  return out
}

/** One of `allowed`. @throws {CliError} exit 2 */
export function choice<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new CliError(`${flag} must be one of ${allowed.join(', ')} (got '${value}')`, EXIT.USAGE, 'CLI_BAD_FLAG')
  return value as T
}

/** How every verb's --target reads (resolved by the controller, the same for every verb and the console). */
export const TARGET_HELP =
  'a group (liquid-lln group list), a device id, a label value such as stm32h743, or a selector such as env=production,hw in (a,b)'
