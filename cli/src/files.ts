import { readFile } from 'node:fs/promises'
import * as z from 'zod'
import { BaselineSchema, type Baseline } from '@liquid-edge/protocol'
import { CliError, EXIT } from './client.js'

/** Read a package file. @throws {CliError} exit 3 when missing */
export async function readPackage(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path))
  } catch {
    throw new CliError(`cannot read model file '${path}'`, EXIT.NOT_FOUND, 'CLI_NO_FILE')
  }
}

/**
 * A baseline file written by `liquid-lln benchmark --output` (docs/baseline.md), validated here so a
 * wrong file is named as such before anything is measured. @throws {CliError} exit 2
 */
export async function readBaseline(path: string): Promise<Baseline> {
  const fail = (message: string): never => {
    throw new CliError(`--baseline: ${message}`, EXIT.USAGE, 'CLI_BAD_FLAG')
  }
  let json: unknown
  try {
    json = JSON.parse(await readFile(path, 'utf8')) as unknown
  } catch (err) {
    return fail(`cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`)
  }
  const parsed = BaselineSchema.safeParse(json)
  if (parsed.success) return parsed.data
  return fail(
    `${path} is not a baseline file (write one with: liquid-lln benchmark --target <target> --output ${path}):\n${z.prettifyError(parsed.error)}`,
  )
}
