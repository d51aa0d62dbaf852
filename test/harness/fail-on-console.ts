/**
 * Vitest setup file: a test that writes to the console fails. Source code logs through pino
 * (silent by default in tests) and CLIs write to process.stdout, so console output is a bug or
 * an unhandled library warning (ioredis prints unhandled 'error' events there) worth seeing.
 */
/* eslint-disable no-console -- this file exists to watch the console */
import { afterEach, beforeEach, expect } from 'vitest'

const METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const
const originals = new Map<(typeof METHODS)[number], (...args: unknown[]) => void>()
const saved = console
let written: string[] = []

beforeEach(() => {
  written = []
  for (const method of METHODS) {
    originals.set(method, saved[method].bind(saved))
    console[method] = (...args: unknown[]) => {
      written.push(`console.${method}: ${args.map((a) => (a instanceof Error ? a.stack : String(a))).join(' ')}`)
    }
  }
})

afterEach(() => {
  for (const [method, fn] of originals) console[method] = fn
  const lines = written
  written = []
  expect(lines, 'the test wrote to the console').toEqual([])
})
