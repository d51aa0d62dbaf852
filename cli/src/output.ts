import { parseDurationMs } from './parse.js'

export interface Io {
  stdout: (s: string) => void
  stderr: (s: string) => void
  env: Record<string, string | undefined>
  isTTY: boolean
}

/** A plain text table: header row, then rows, columns padded to width. */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const text = (c: unknown): string => (c === null || c === undefined ? '-' : typeof c === 'string' ? c : JSON.stringify(c))
  const cells = [headers, ...rows.map((r) => r.map(text))]
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)))
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()
  return `${cells.map(line).join('\n')}\n`
}

export function ago(ts: number | null | undefined, now = Date.now()): string {
  if (ts === null || ts === undefined) return '-'
  const s = Math.round((now - ts) / 1000)
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`
}

export { parseDurationMs }
