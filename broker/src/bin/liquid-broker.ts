#!/usr/bin/env node
import { createProgram } from '../cli/program.js'

const program = createProgram({
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stopSignal: () =>
    new Promise((resolve) => {
      process.once('SIGINT', () => {
        resolve('SIGINT')
      })
      process.once('SIGTERM', () => {
        resolve('SIGTERM')
      })
    }),
})

try {
  await program.parseAsync(process.argv)
} catch (err) {
  process.stderr.write(`liquid-broker: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
}
