import { Command, CommanderError } from 'commander'
import { CliError, EXIT } from './client.js'
import { Context } from './context.js'
import { registerDeviceCommands, registerModelCommands } from './device-commands.js'
import type { Io } from './output.js'
import { registerRolloutCommands } from './rollout-commands.js'
import { registerMonitorCommands } from '../telemetry/monitor-cli.js'
import { registerRunbookCommands } from '../runbook/cli.js'

/** Run `liquid-lln` with `argv` (without node and script); resolves with the exit code. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const program = new Command('liquid-lln')
    .description('Liquid Edge fleet operations: devices, models, rollouts, rollback')
    .option('--api-url <url>', 'controller API (env LLN_API_URL)')
    .option('--token <token>', 'bearer token (env LLN_TOKEN)')
    .option('--json', 'machine-readable output')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
  let exit: number = EXIT.OK
  const ctx = new Context(io, program)
  registerDeviceCommands(program, ctx)
  registerModelCommands(program, ctx)
  registerMonitorCommands(program, ctx)
  registerRolloutCommands(program, ctx, (code) => {
    exit = code
  })
  registerRunbookCommands(program, ctx, (code) => {
    exit = code
  })
  for (const c of program.commands) c.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
  for (const c of program.commands.flatMap((x) => x.commands))
    c.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
  try {
    await program.parseAsync(argv, { from: 'user' })
    return exit
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE
    if (err instanceof CliError) {
      if (ctx.json) io.stdout(`${JSON.stringify({ error: { code: err.code, message: err.message } })}\n`)
      io.stderr(`error: ${err.message}${err.code.startsWith('CLI_') ? '' : ` (${err.code})`}\n`)
      return err.exitCode
    }
    io.stderr(`error: ${err instanceof Error ? err.message : String(err)}\n`)
    return EXIT.ERROR
  }
}
