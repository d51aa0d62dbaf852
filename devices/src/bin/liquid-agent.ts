#!/usr/bin/env node
/**
 * `liquid-agent`: run the agent on a device (`run`), a simulated fleet (`simulate`), and the model
 * package tools (`model keygen|pack|inspect|verify|demo|build-cfc`).
 */
import { Command } from 'commander'

// The composition root: the only place that reads the environment.
const env = process.env

/** Subcommands, loaded only when used (the agent and onnxruntime take a while to import). */
const SUBCOMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('../cli/run.js')).runCommand(env),
  simulate: async () => (await import('../cli/simulate.js')).simulateCommand(env),
  model: async () => (await import('../cli/model.js')).modelCommand(env),
  gateway: async () => (await import('../stm32/cli.js')).gatewayCommand(env),
  'emulate-stm32': async () => (await import('../stm32/cli.js')).emulateStm32Command(env),
}

const program = new Command('liquid-agent')
  .description('Liquid Edge device agent, simulated fleets and .liquid model packages')
  .version('0.1.0')
  .enablePositionalOptions()
const wanted = process.argv[2]
const load = wanted === undefined ? undefined : SUBCOMMANDS[wanted]
for (const make of load === undefined ? Object.values(SUBCOMMANDS) : [load]) program.addCommand(await make())

await program.parseAsync(process.argv)
