import * as z from 'zod'
import { ClassBudgetsSchema, OptionalMeasuresSchema } from './budgets.js'
import { EpochMsSchema, LabelValueSchema, ModelNameSchema, SemverSchema, Sha256Schema } from './primitives.js'

/**
 * The manifest of a `.liquid` model package: what a publisher declares about a model and signs
 * with it. The file layout, parsing, signing and verification live in `@liquid-edge/package`;
 * the manifest is here because it is part of the published contract
 * (`docs/protocol/package-manifest.schema.json`) and the controller's API returns it.
 */
/** The package format version, in the file header and the manifest. */
export const PACKAGE_FORMAT = 1

const ShapeSchema = z
  .array(z.number().int().positive().max(1_000_000).describe('Dimension size, 1-1000000.'))
  .min(1)
  .max(8)
  .describe('Full shape including the batch dimension (1 for single-sample models), 1-8 dimensions.')
const TensorSpecSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_.:/-]{0,127}$/)
      .describe('Tensor name in the model graph.'),
    /** Full shape including the batch dimension (1 for single-sample models). */
    shape: ShapeSchema,
    dtype: z.literal('float32').describe('Element type; float32 only.'),
  })
  .describe('A model input or output tensor.')
const VectorSchema = z
  .array(z.number().min(-3.4e38).max(3.4e38).describe('A float32 value.'))
  .min(1)
  .max(1_000_000)
  .describe('A flattened tensor (row-major), 1 to 1000000 float32 values.')

export const PackageManifestSchema = z
  .object({
    format: z.literal(PACKAGE_FORMAT).describe('Package format version; 1.'),
    name: ModelNameSchema.describe('Model name.'),
    version: SemverSchema.describe('Model version (semver).'),
    description: z.string().max(1024).default('').describe('Free text, at most 1024 characters.'),
    createdAt: EpochMsSchema.describe('When the package was built, epoch milliseconds.'),
    runtime: z.literal('onnx').describe('Model format of the model bytes: onnx.'),
    input: TensorSpecSchema.describe('The single model input.'),
    output: TensorSpecSchema.describe('The single model output.'),
    /** The model's latency threshold: self-tests and trial rules compare against it. */
    latencyThresholdMs: z
      .number()
      .positive()
      .max(3_600_000)
      .describe('Latency threshold in milliseconds (>0 to 3600000): golden vectors must run under it in the self-test.'),
    /** The model's energy budget in mW; `null` when none is declared. */
    energyBudgetMw: z
      .number()
      .positive()
      .max(1e9)
      .nullable()
      .default(null)
      .describe('Average power budget in milliwatts (>0 to 1e9); null (default) when none is declared.'),
    memoryBudgetBytes: z
      .number()
      .int()
      .positive()
      .max(2 ** 50)
      .nullable()
      .default(null)
      .describe('Memory the device may use with this model, bytes (1 to 2^50); null (default) when none is declared.'),
    optional: OptionalMeasuresSchema.default([]),
    budgets: ClassBudgetsSchema.default({}).describe(
      'Budgets per hardware class (stm32h743, x86-edge, …), overriding the defaults above for devices of that class; default none.',
    ),
    /** Golden vectors: flattened input, expected flattened output. */
    golden: z
      .array(
        z
          .object({ input: VectorSchema.describe('Flattened input.'), output: VectorSchema.describe('Expected flattened output.') })
          .describe('One golden vector.'),
      )
      .min(1)
      .max(256)
      .describe('Golden vectors (1-256): the self-test runs each input and compares the output within tolerance.'),
    /** Absolute tolerance when comparing outputs with golden outputs. */
    tolerance: z
      .number()
      .positive()
      .max(1)
      .default(1e-4)
      .describe('Largest absolute difference allowed between an output and its golden output (>0 to 1, default 1e-4).'),
    /** Optional labelled evaluation set; `label` is the index of the expected largest output. */
    evaluation: z
      .object({
        name: z
          .string()
          .regex(/^[A-Za-z0-9._-]{1,64}$/)
          .describe('Dataset name (the evaluate command names it).'),
        minAccuracy: z.number().min(0).max(1).describe('Accuracy (0-1) the model must reach on it.'),
        samples: z
          .array(
            z
              .object({
                input: VectorSchema.describe('Flattened input.'),
                label: z.number().int().nonnegative().max(1_000_000).describe('Index of the expected largest output.'),
              })
              .describe('One labelled sample.'),
          )
          .min(1)
          .max(10_000)
          .describe('Labelled samples, 1-10000.'),
      })
      .optional()
      .describe('Optional labelled evaluation set.'),
    /** Hardware profiles the model is built for, e.g. `stm32h743`; empty = any. */
    hardware: z
      .array(LabelValueSchema.describe('A hardware profile.'))
      .max(32)
      .default([])
      .describe('Hardware profiles the model is built for, e.g. stm32h743; empty (default) = any. Other devices refuse it.'),
    modelSha256: Sha256Schema.describe('SHA-256 of the model bytes.'),
    modelSize: z
      .number()
      .int()
      .positive()
      .max(4 * 1024 ** 3)
      .describe('Length of the model bytes, 1 B to 4 GiB.'),
  })
  .superRefine((m, ctx) => {
    const inLen = m.input.shape.reduce((a, b) => a * b, 1)
    const outLen = m.output.shape.reduce((a, b) => a * b, 1)
    m.golden.forEach((g, i) => {
      if (g.input.length !== inLen)
        ctx.addIssue({ code: 'custom', path: ['golden', i, 'input'], message: `expected ${inLen} values (input shape)` })
      if (g.output.length !== outLen)
        ctx.addIssue({ code: 'custom', path: ['golden', i, 'output'], message: `expected ${outLen} values (output shape)` })
    })
    m.evaluation?.samples.forEach((s, i) => {
      if (s.input.length !== inLen)
        ctx.addIssue({ code: 'custom', path: ['evaluation', 'samples', i, 'input'], message: `expected ${inLen} values` })
      if (s.label >= outLen)
        ctx.addIssue({ code: 'custom', path: ['evaluation', 'samples', i, 'label'], message: `label must be < ${outLen}` })
    })
  })
  .describe('The manifest of a .liquid package (UTF-8 JSON inside the signed bytes).')
export type PackageManifest = z.output<typeof PackageManifestSchema>
export type PackageManifestInput = z.input<typeof PackageManifestSchema>
