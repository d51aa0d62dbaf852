import { isFleetError } from '@liquid-edge/protocol'

/** One line to stdout (CLI output; src never uses console). */
export function say(text: string): void {
  process.stdout.write(`${text}\n`)
}

/** Report a failed command on stderr and set the exit code (2 for configuration errors). */
export function fail(err: unknown): void {
  const code = isFleetError(err) ? err.code : 'ERROR'
  process.stderr.write(`liquid-agent: ${code}: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = code === 'CONFIG_INVALID' ? 2 : 1
}

/** Wrap a command action so that errors are reported, not thrown. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args)
    } catch (err) {
      fail(err)
    }
  }
}
