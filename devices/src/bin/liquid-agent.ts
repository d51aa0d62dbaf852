#!/usr/bin/env node
/**
 * `liquid-agent`: run the agent on a device (`run`), a simulated fleet (`simulate`), and the model
 * package tools (`model keygen|pack|inspect|verify|demo|build-cfc`).
 */
import { Command } from 'commander'
import { modelCommand } from '../cli/model.js'
import { runCommand } from '../cli/run.js'
import { simulateCommand } from '../cli/simulate.js'

// The composition root: the only place that reads the environment.
const env = process.env

const program = new Command('liquid-agent')
  .description('Liquid Edge device agent, simulated fleets and .liquid model packages')
  .version('0.1.0')
  .enablePositionalOptions()
  .addCommand(runCommand(env))
  .addCommand(simulateCommand(env))
  .addCommand(modelCommand())

await program.parseAsync(process.argv)
