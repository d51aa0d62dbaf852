import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { Command, Option } from 'commander'
import { loadPrivateKey } from '@liquid-edge/package'
import { FleetError } from '@liquid-edge/protocol'
import { buildCfcModel } from '../models/cfc.js'
import { packCfc } from '../models/cfc-package.js'
import { REFERENCE_MODELS } from '../models/demo.js'
import { action, say } from './output.js'

/** Where `npm start` keeps its signing key, relative to the repository. */
const SANDBOX_KEY = join('.lln', 'sandbox', 'publisher.pem')

/**
 * The signing key to use: `--key`, else `LLN_SIGNING_KEY` (the sandbox's `env.sh` sets it), else the
 * sandbox's key in this directory or one above it.
 */
export function findSigningKey(flag: string | undefined, env: Record<string, string | undefined>, cwd: string): string | null {
  if (flag !== undefined) return flag
  if (env.LLN_SIGNING_KEY !== undefined && env.LLN_SIGNING_KEY !== '') return env.LLN_SIGNING_KEY
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    if (existsSync(join(dir, SANDBOX_KEY))) return join(dir, SANDBOX_KEY)
    if (dirname(dir) === dir) return null
  }
}

interface BuildFlags {
  size: keyof typeof REFERENCE_MODELS
  seed: string
  out: string
  name?: string
  version: string
  key?: string
}

/** `liquid-agent model build-cfc`: a reference CfC network as ONNX, or as a signed `.liquid` package. */
export function buildCfcCommand(env: Record<string, string | undefined>): Command {
  return new Command('build-cfc')
    .description(
      'write a reference CfC liquid network: an ONNX model, or (--out *.liquid) a signed package with budgets per hardware class',
    )
    .addOption(new Option('--size <size>', 'reference size').choices(Object.keys(REFERENCE_MODELS)).default('small'))
    .option('--seed <n>', 'weights seed', '1')
    .requiredOption('--out <file>', 'output: .onnx for the model alone, .liquid for a signed package')
    .option('--name <name>', 'package: model name (default cfc-<size>)')
    .option('--version <semver>', 'package: model version', '1.0.0')
    .option('--key <file>', 'package: publisher private key (default: $LLN_SIGNING_KEY, else the sandbox key .lln/sandbox/publisher.pem)')
    .action(
      action(async (o: BuildFlags) => {
        const spec = { ...REFERENCE_MODELS[o.size], seed: Number(o.seed) }
        const shape = `CfC F=${spec.features} T=${spec.steps} H=${spec.hidden} C=${spec.classes}, input x [1, ${spec.features * spec.steps}], output y [1, ${spec.classes}]`
        if (!o.out.endsWith('.liquid')) {
          const bytes = buildCfcModel(spec)
          await writeFile(o.out, bytes)
          say(`${o.out}: ${shape}, ${bytes.byteLength} bytes`)
          return
        }
        const keyFile = findSigningKey(o.key, env, process.cwd())
        if (keyFile === null)
          throw new FleetError(
            'CONFIG_INVALID',
            'no signing key: pass --key FILE (make one with liquid-agent model keygen --out publisher.pem), or run in the sandbox (source .lln/sandbox/env.sh)',
          )
        const pem = await readFile(keyFile, 'utf8').catch((err: unknown) =>
          Promise.reject(new FleetError('CONFIG_INVALID', `cannot read the signing key ${keyFile}`, { cause: err })),
        )
        const name = o.name ?? `cfc-${o.size}`
        const packed = await packCfc({ spec, name, version: o.version, privateKey: loadPrivateKey(pem) })
        await writeFile(o.out, packed.bytes)
        say(`${o.out}: ${name} ${o.version}, ${shape}, signed with ${keyFile}, sha256 ${packed.sha256}`)
      }),
    )
}
