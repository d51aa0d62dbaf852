import type { KeyObject } from 'node:crypto'
import { signPackage, type ManifestDraft, type ModelPackage, type SignedPackage } from '@liquid-edge/package'
import { FleetError, type PackageManifestInput } from '@liquid-edge/protocol'
import * as ort from 'onnxruntime-node'
import { openOnnxModel } from './session.js'

type TensorSpec = PackageManifestInput['input']

/** What a publisher says about a model; hashes, sizes and golden outputs are computed by {@link packModel}. */
export interface PackOptions {
  model: Uint8Array
  name: string
  version: string
  description?: string
  latencyThresholdMs: number
  energyBudgetMw?: number | null
  memoryBudgetBytes?: number | null
  /** Budgets per hardware class, over the defaults above (see the protocol's `budgetFor`). */
  budgets?: PackageManifestInput['budgets']
  /** Measures the default class may be unable to make. */
  optional?: PackageManifestInput['optional']
  /** Golden inputs (flattened); their outputs are computed by running the model through onnxruntime. */
  goldenInputs: readonly (Float32Array | readonly number[])[]
  tolerance?: number
  evaluation?: PackageManifestInput['evaluation']
  hardware?: string[]
  /** Tensor specs; by default read from the model's single input and output. */
  input?: TensorSpec
  output?: TensorSpec
  /** @defaultValue Date.now() */
  createdAt?: number
  privateKey: KeyObject
}

/** A packed model: the signed package and its artifact identity. */
export type PackedModel = SignedPackage

async function tensorSpecs(model: Uint8Array): Promise<{ input: TensorSpec; output: TensorSpec }> {
  const session = await ort.InferenceSession.create(model)
  try {
    const describe = (meta: ort.InferenceSession.ValueMetadata | undefined, what: string): TensorSpec => {
      if (meta?.isTensor !== true || meta.type !== 'float32')
        throw new FleetError('AGENT_PACKAGE_INVALID', `the model's ${what} is not a float32 tensor`)
      const shape = meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1))
      return { name: meta.name, shape, dtype: 'float32' }
    }
    if (session.inputNames.length !== 1 || session.outputNames.length !== 1) {
      throw new FleetError('AGENT_PACKAGE_INVALID', 'a .liquid model has exactly one input and one output tensor')
    }
    return { input: describe(session.inputMetadata[0], 'input'), output: describe(session.outputMetadata[0], 'output') }
  } finally {
    await session.release()
  }
}

/** Run each input through the model (the golden outputs a device must reproduce). */
export async function runModel(
  model: Uint8Array,
  input: TensorSpec,
  output: TensorSpec,
  inputs: readonly (Float32Array | readonly number[])[],
): Promise<Float32Array[]> {
  const onnx = await openOnnxModel(model, { inputName: input.name, outputName: output.name, inputShape: input.shape })
  try {
    const outs: Float32Array[] = []
    for (const x of inputs) outs.push(Float32Array.from(await onnx.run(Float32Array.from(x))))
    return outs
  } finally {
    await onnx.release()
  }
}

/**
 * Build and sign a `.liquid` package from an ONNX model: tensor specs and golden outputs come from
 * onnxruntime, then {@link signPackage} hashes, validates and signs.
 * @throws FleetError `AGENT_PACKAGE_INVALID` when onnxruntime cannot use the model,
 * `PACKAGE_MANIFEST_INVALID` when the manifest breaks the schema.
 */
export async function packModel(options: PackOptions): Promise<PackedModel> {
  let specs: { input: TensorSpec; output: TensorSpec }
  try {
    specs =
      options.input !== undefined && options.output !== undefined
        ? { input: options.input, output: options.output }
        : await tensorSpecs(options.model)
  } catch (err) {
    if (err instanceof FleetError) throw err
    throw new FleetError('AGENT_PACKAGE_INVALID', 'onnxruntime cannot load the model', { cause: err })
  }
  const outputs = await runModel(options.model, specs.input, specs.output, options.goldenInputs)
  const draft: ManifestDraft = {
    format: 1,
    name: options.name,
    version: options.version,
    description: options.description ?? '',
    createdAt: options.createdAt ?? Date.now(),
    runtime: 'onnx',
    input: specs.input,
    output: specs.output,
    latencyThresholdMs: options.latencyThresholdMs,
    energyBudgetMw: options.energyBudgetMw ?? null,
    memoryBudgetBytes: options.memoryBudgetBytes ?? null,
    ...(options.budgets === undefined ? {} : { budgets: options.budgets }),
    ...(options.optional === undefined ? {} : { optional: options.optional }),
    golden: options.goldenInputs.map((x, i) => ({ input: Array.from(x), output: Array.from(outputs[i] ?? []) })),
    ...(options.tolerance === undefined ? {} : { tolerance: options.tolerance }),
    ...(options.evaluation === undefined ? {} : { evaluation: options.evaluation }),
    hardware: options.hardware ?? [],
  }
  return signPackage(draft, options.model, options.privateKey)
}

/** Golden-vector check of a package through onnxruntime: the largest absolute difference, and whether it is within tolerance. */
export async function checkGolden(pkg: ModelPackage): Promise<{ ok: boolean; maxAbsError: number }> {
  const { manifest } = pkg
  const outs = await runModel(
    pkg.model,
    manifest.input,
    manifest.output,
    manifest.golden.map((g) => g.input),
  )
  let maxAbsError = 0
  manifest.golden.forEach((g, i) => {
    const out = outs[i]
    g.output.forEach((v, j) => {
      const o = out?.[j]
      maxAbsError = Math.max(maxAbsError, o === undefined || Number.isNaN(o) ? Infinity : Math.abs(v - o))
    })
  })
  return { ok: maxAbsError <= manifest.tolerance, maxAbsError }
}
