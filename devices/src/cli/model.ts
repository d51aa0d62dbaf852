import { readFile, writeFile } from 'node:fs/promises'
import { Command } from 'commander'
import * as z from 'zod'
import { generateSigningKeys, loadPrivateKey, loadPublicKey, parsePackage, sha256Hex, verifyPackage } from '@liquid-edge/package'
import { FleetError } from '@liquid-edge/protocol'
import { seededRandom } from '../models/cfc.js'
import { writeDemoPackages } from '../models/demo-files.js'
import { checkGolden, packModel } from '../onnx/pack.js'
import { HARDWARE_PROFILE_NAMES } from '../simulated/profiles.js'
import { buildCfcCommand } from './build-cfc.js'
import { modelShape } from './model-shape.js'
import { action, say } from './output.js'

async function readBytes(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path))
  } catch (err) {
    throw new FleetError('CONFIG_INVALID', `cannot read ${what} ${path}`, { cause: err })
  }
}

const VectorsSchema = z.array(z.array(z.number()).min(1)).min(1).max(256)
const EvaluationSchema = z.object({
  name: z.string(),
  minAccuracy: z.number(),
  samples: z.array(z.object({ input: z.array(z.number()), label: z.number().int() })),
})

async function readJson<T>(path: string, schema: z.ZodType<T>, what: string): Promise<T> {
  const parsed = schema.safeParse(JSON.parse(new TextDecoder().decode(await readBytes(path, what))))
  if (!parsed.success) throw new FleetError('CONFIG_INVALID', `${what} ${path}: ${z.prettifyError(parsed.error)}`)
  return parsed.data
}

function keygen(): Command {
  return new Command('keygen')
    .description('generate an ed25519 publisher key pair (PEM)')
    .requiredOption('--out <file>', 'private key file (written 0600)')
    .option('--pub <file>', 'public key file (default: <out without .pem>.pub.pem)')
    .option('--force', 'overwrite existing files')
    .action(
      action(async (o: { out: string; pub?: string; force?: boolean }) => {
        const keys = generateSigningKeys()
        const pub = o.pub ?? `${o.out.replace(/\.pem$/, '')}.pub.pem`
        const flag = o.force === true ? 'w' : 'wx'
        await writeFile(o.out, keys.privateKeyPem, { mode: 0o600, flag })
        await writeFile(pub, keys.publicKeyPem, { flag })
        say(`private key: ${o.out}\npublic key:  ${pub}`)
      }),
    )
}

interface PackFlags {
  model: string
  name: string
  version: string
  latencyMs: string
  energyMw?: string
  golden?: string
  goldenRandom: string
  evaluation?: string
  hardware?: string
  description?: string
  tolerance?: string
  key: string
  out: string
  json?: boolean
}

function pack(): Command {
  return new Command('pack')
    .description('pack an ONNX model into a signed .liquid package (golden outputs computed with onnxruntime)')
    .requiredOption('--model <file>', 'ONNX model (one float32 input, one float32 output)')
    .requiredOption('--name <name>', 'model name, e.g. anomaly-detector')
    .requiredOption('--version <semver>', 'model version, e.g. 1.2.0')
    .requiredOption('--latency-ms <ms>', 'latency threshold')
    .option('--energy-mw <mW>', 'energy budget (average power)')
    .option('--golden <file>', 'JSON array of golden input vectors')
    .option('--golden-random <n>', 'or: n seeded random golden inputs', '4')
    .option('--evaluation <file>', 'JSON labelled evaluation set {name, minAccuracy, samples:[{input, label}]}')
    .option('--hardware <list>', 'comma-separated hardware profiles the model targets')
    .option('--description <text>', 'description')
    .option('--tolerance <abs>', 'absolute tolerance for golden outputs')
    .requiredOption('--key <file>', 'publisher private key (PEM)')
    .requiredOption('--out <file>', 'output .liquid file')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (o: PackFlags) => {
        const model = await readBytes(o.model, 'model')
        const privateKey = loadPrivateKey(
          await readFile(o.key, 'utf8').catch((err: unknown) =>
            Promise.reject(new FleetError('CONFIG_INVALID', `cannot read key ${o.key}`, { cause: err })),
          ),
        )
        let goldenInputs: number[][] | undefined =
          o.golden === undefined ? undefined : await readJson(o.golden, VectorsSchema, 'golden file')
        if (goldenInputs === undefined) {
          const { input } = await modelShape(model)
          const random = seededRandom(Number(o.goldenRandom) || 1)
          const n = input.reduce((a, b) => a * b, 1)
          goldenInputs = Array.from({ length: Math.max(1, Number(o.goldenRandom)) }, () =>
            Array.from({ length: n }, () => Math.round((random() * 2 - 1) * 1e4) / 1e4),
          )
        }
        const packed = await packModel({
          model,
          name: o.name,
          version: o.version,
          latencyThresholdMs: Number(o.latencyMs),
          energyBudgetMw: o.energyMw === undefined ? null : Number(o.energyMw),
          goldenInputs,
          ...(o.evaluation === undefined ? {} : { evaluation: await readJson(o.evaluation, EvaluationSchema, 'evaluation file') }),
          ...(o.hardware === undefined ? {} : { hardware: o.hardware.split(',').map((h) => h.trim()) }),
          ...(o.description === undefined ? {} : { description: o.description }),
          ...(o.tolerance === undefined ? {} : { tolerance: Number(o.tolerance) }),
          privateKey,
        })
        await writeFile(o.out, packed.bytes)
        const result = {
          file: o.out,
          name: o.name,
          version: o.version,
          size: packed.bytes.byteLength,
          sha256: packed.sha256,
          signature: packed.signature,
        }
        say(
          o.json === true
            ? JSON.stringify(result)
            : Object.entries(result)
                .map(([k, v]) => `${k.padEnd(10)} ${v}`)
                .join('\n'),
        )
      }),
    )
}

function inspect(): Command {
  return new Command('inspect')
    .description('show the manifest of a .liquid package (no key needed; checks structure and model hash)')
    .argument('<file>')
    .option('--json', 'print the whole manifest as JSON')
    .action(
      action(async (file: string, o: { json?: boolean }) => {
        const bytes = await readBytes(file, 'package')
        const parsed = parsePackage(bytes)
        if (!parsed.ok) throw new FleetError(parsed.code, `refused: ${parsed.message}`)
        const { manifest: m, model } = parsed.package
        const modelOk = sha256Hex(model) === m.modelSha256
        if (o.json === true) {
          say(JSON.stringify({ sha256: sha256Hex(bytes), size: bytes.byteLength, modelHashOk: modelOk, manifest: m }, null, 2))
          return
        }
        const rows: [string, string][] = [
          ['model', `${m.name} ${m.version}`],
          ['description', m.description],
          ['created', new Date(m.createdAt).toISOString()],
          ['input', `${m.input.name} [${m.input.shape.join(', ')}] ${m.input.dtype}`],
          ['output', `${m.output.name} [${m.output.shape.join(', ')}] ${m.output.dtype}`],
          ['latency', `${m.latencyThresholdMs} ms threshold`],
          ['energy', m.energyBudgetMw === null ? 'no budget' : `${m.energyBudgetMw} mW budget`],
          ['golden', `${m.golden.length} vectors, tolerance ${m.tolerance}`],
          [
            'evaluation',
            m.evaluation === undefined
              ? 'none'
              : `${m.evaluation.name}: ${m.evaluation.samples.length} samples, min accuracy ${m.evaluation.minAccuracy}`,
          ],
          ['hardware', m.hardware.length === 0 ? 'any' : m.hardware.join(', ')],
          ['model', `${m.modelSize} bytes, sha256 ${m.modelSha256} ${modelOk ? '(ok)' : '(MISMATCH)'}`],
          ['package', `${bytes.byteLength} bytes, sha256 ${sha256Hex(bytes)}`],
          ['signature', Buffer.from(parsed.package.signature).toString('base64')],
        ]
        say(rows.map(([k, v]) => `${k.padEnd(11)} ${v}`).join('\n'))
      }),
    )
}

function verify(): Command {
  return new Command('verify')
    .description('verify a .liquid package: structure, model sha256 and signature; optionally golden vectors')
    .argument('<file>')
    .requiredOption('--key <file>', 'publisher public key (PEM)')
    .option('--sha256 <hex>', 'expected sha256 of the whole file')
    .option('--golden', 'also run the golden vectors through onnxruntime')
    .action(
      action(async (file: string, o: { key: string; sha256?: string; golden?: boolean }) => {
        const publicKey = loadPublicKey(await readBytes(o.key, 'key').then((b) => Buffer.from(b)))
        const result = verifyPackage(await readBytes(file, 'package'), {
          keys: [publicKey],
          ...(o.sha256 === undefined ? {} : { expectedSha256: o.sha256 }),
        })
        if (!result.ok) throw new FleetError(result.code, `refused: ${result.message}`)
        let golden = ''
        if (o.golden === true) {
          const g = await checkGolden(result.package)
          if (!g.ok) throw new FleetError('AGENT_SELF_TEST_FAILED', `golden vectors differ by up to ${g.maxAbsError}`)
          golden = `, golden vectors within ${result.package.manifest.tolerance} (max error ${g.maxAbsError.toExponential(2)})`
        }
        const m = result.package.manifest
        say(`ok: ${m.name} ${m.version}, sha256 ${result.sha256}, signature valid${golden}`)
      }),
    )
}

const ProfilesSchema = z.array(z.enum(HARDWARE_PROFILE_NAMES)).min(1)

function demo(): Command {
  return new Command('demo')
    .description('write the signed demo packages (cfc-sense v1, v2, v3), publisher.pub.pem and index.json')
    .requiredOption('--out <dir>', 'output directory')
    .requiredOption('--key <file>', 'publisher private key (PEM); generated there if missing')
    .option('--seed <n>', 'weights seed', '1')
    .option('--profile <names>', `hardware the budgets fit, comma-separated (${HARDWARE_PROFILE_NAMES.join(', ')})`, 'stm32h743')
    .option('--rate <n>', 'inferences per second the energy budgets assume', '5')
    .action(
      action(async (o: { out: string; key: string; seed: string; profile: string; rate: string }) => {
        const parsed = ProfilesSchema.safeParse(o.profile.split(',').map((p) => p.trim()))
        if (!parsed.success)
          throw new FleetError('CONFIG_INVALID', `--profile ${o.profile}: expected names among ${HARDWARE_PROFILE_NAMES.join(', ')}`)
        const index = await writeDemoPackages(o.out, o.key, { seed: Number(o.seed), profile: parsed.data, ratePerS: Number(o.rate) })
        for (const p of index.packages)
          say(`${p.file}  ${p.sha256}  ${p.latencyThresholdMs} ms  ${p.energyBudgetMw ?? '-'} mW  ${p.description}`)
      }),
    )
}

/** `liquid-agent model …`: the `.liquid` package tools. */
export function modelCommand(env: Record<string, string | undefined>): Command {
  return new Command('model')
    .description('model packages: keygen, pack, inspect, verify, demo, build-cfc')
    .addCommand(keygen())
    .addCommand(pack())
    .addCommand(inspect())
    .addCommand(verify())
    .addCommand(demo())
    .addCommand(buildCfcCommand(env))
}
