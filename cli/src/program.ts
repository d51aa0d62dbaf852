import { createRequire } from 'node:module'
import { Command, CommanderError } from 'commander'
import { CliError, EXIT } from './client.js'
import { cliConfig } from './config.js'
import { Context } from './context.js'
import { registerDeviceCommands, registerModelCommands } from './commands/device-commands.js'
import type { Io } from './output.js'
import { registerCompletion } from './commands/completion.js'
import { registerGroupCommands } from './commands/group-commands.js'
import { registerRolloutCommands } from './commands/rollout-commands.js'
import { registerMonitorCommands } from './commands/monitor-commands.js'
import { registerBenchmarkCommands } from './commands/benchmark-commands.js'
import { registerBrokerConfigCommands } from './commands/broker-config-commands.js'
import { registerRunbookCommands } from './commands/runbook-commands.js'
import { registerConformanceCommands } from './commands/conformance-commands.js'

/** This package's version (src/ and dist/ both sit one level below package.json). */
const VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version

/** Run `liquid-lln` with `argv` (without node and script); resolves with the exit code. */
export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const program = cliConfig
    .addOptions(new Command('liquid-lln').description('Liquid Edge fleet operations: devices, models, rollouts, rollback'))
    .option('--json', 'machine-readable output')
    .version(VERSION, '-V, --version', 'print the version of liquid-lln')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
  let exit: number = EXIT.OK
  const ctx = new Context(io, program)
  registerDeviceCommands(program, ctx)
  registerModelCommands(program, ctx)
  registerGroupCommands(program, ctx)
  registerMonitorCommands(program, ctx)
  registerRolloutCommands(program, ctx, (code) => {
    exit = code
  })
  registerRunbookCommands(program, ctx, (code) => {
    exit = code
  })
  registerBenchmarkCommands(program, ctx, (code) => {
    exit = code
  })
  registerConformanceCommands(program, ctx, (code) => {
    exit = code
  })
  registerBrokerConfigCommands(program, ctx)
  registerCompletion(program, ctx)
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
