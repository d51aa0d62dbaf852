import * as z from 'zod'
import { EpochMsSchema, LabelValueSchema, ModelNameSchema, SemverSchema, Sha256Schema } from './primitives.js'

/**
 * The `.liquid` model package: one file holding a manifest, an ONNX model and an ed25519 signature.
 *
 * ```
 * offset  size  field
 * 0       6     magic "LLNPKG"
 * 6       1     format version (1)
 * 7       1     reserved (0)
 * 8       4     manifest length M, uint32 little-endian
 * 12      M     manifest, UTF-8 JSON (PackageManifestSchema)
 * 12+M    4     model length N, uint32 little-endian
 * 16+M    N     model bytes (ONNX)
 * 16+M+N  64    ed25519 signature over bytes [0, 16+M+N)
 * ```
 * Everything but the signature is signed, so neither the manifest nor the model can be changed
 * without the publisher's private key. The artifact sha256 in a desired state is of the whole file.
 */
export const PACKAGE_MAGIC = 'LLNPKG'
export const PACKAGE_FORMAT = 1
export const SIGNATURE_BYTES = 64
/** Largest manifest accepted (golden vectors and a small evaluation set fit easily). */
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024

const ShapeSchema = z.array(z.number().int().positive().max(1_000_000)).min(1).max(8)
const TensorSpecSchema = z.object({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.:/-]{0,127}$/),
  /** Full shape including the batch dimension (1 for single-sample models). */
  shape: ShapeSchema,
  dtype: z.literal('float32'),
})
const VectorSchema = z.array(z.number()).min(1).max(1_000_000)

export const PackageManifestSchema = z
  .object({
    format: z.literal(PACKAGE_FORMAT),
    name: ModelNameSchema,
    version: SemverSchema,
    description: z.string().max(1024).default(''),
    createdAt: EpochMsSchema,
    runtime: z.literal('onnx'),
    input: TensorSpecSchema,
    output: TensorSpecSchema,
    /** The model's latency threshold: self-tests and trial rules compare against it. */
    latencyThresholdMs: z.number().positive().max(3_600_000),
    /** The model's energy budget in mW; `null` when none is declared. */
    energyBudgetMw: z.number().positive().max(1e9).nullable().default(null),
    /** Golden vectors: flattened input, expected flattened output. */
    golden: z
      .array(z.object({ input: VectorSchema, output: VectorSchema }))
      .min(1)
      .max(256),
    /** Absolute tolerance when comparing outputs with golden outputs. */
    tolerance: z.number().positive().max(1).default(1e-4),
    /** Optional labelled evaluation set; `label` is the index of the expected largest output. */
    evaluation: z
      .object({
        name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/),
        minAccuracy: z.number().min(0).max(1),
        samples: z
          .array(z.object({ input: VectorSchema, label: z.number().int().nonnegative() }))
          .min(1)
          .max(10_000),
      })
      .optional(),
    /** Hardware profiles the model is built for, e.g. `stm32h743`; empty = any. */
    hardware: z.array(LabelValueSchema).max(32).default([]),
    modelSha256: Sha256Schema,
    modelSize: z.number().int().positive(),
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
export type PackageManifest = z.output<typeof PackageManifestSchema>
export type PackageManifestInput = z.input<typeof PackageManifestSchema>

/** A parsed package. `signed` is the byte range the signature covers. */
export interface ModelPackage {
  manifest: PackageManifest
  model: Uint8Array
  signature: Uint8Array
  signed: Uint8Array
}
export type ParsePackageResult = { ok: true; package: ModelPackage } | { ok: false; message: string }

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: true })
const HEADER_BYTES = 8

/**
 * Parse a package's structure and manifest (never throws). This checks the layout, the manifest
 * schema and the model size, but NOT the signature or the model hash: those need crypto, which
 * callers (agent, controller, CLI) do with their platform's ed25519 and sha256.
 */
export function parsePackage(bytes: Uint8Array): ParsePackageResult {
  try {
    if (bytes.byteLength < HEADER_BYTES + 8 + SIGNATURE_BYTES) return { ok: false, message: 'package is truncated' }
    const magic = String.fromCharCode(...bytes.subarray(0, 6))
    if (magic !== PACKAGE_MAGIC) return { ok: false, message: 'not a .liquid package (bad magic)' }
    if (bytes[6] !== PACKAGE_FORMAT) return { ok: false, message: `unsupported package format ${bytes[6] ?? '?'}` }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const manifestLength = view.getUint32(HEADER_BYTES, true)
    if (manifestLength > MAX_MANIFEST_BYTES) return { ok: false, message: 'manifest is too large' }
    const modelLengthAt = HEADER_BYTES + 4 + manifestLength
    if (modelLengthAt + 4 > bytes.byteLength) return { ok: false, message: 'package is truncated (manifest)' }
    const modelLength = view.getUint32(modelLengthAt, true)
    const signedEnd = modelLengthAt + 4 + modelLength
    if (signedEnd + SIGNATURE_BYTES !== bytes.byteLength) {
      return {
        ok: false,
        message: signedEnd + SIGNATURE_BYTES > bytes.byteLength ? 'package is truncated (model)' : 'package has trailing bytes',
      }
    }
    const text = textDecoder.decode(bytes.subarray(HEADER_BYTES + 4, modelLengthAt))
    if (/"(?:__proto__|constructor|prototype)"\s*:/.test(text)) return { ok: false, message: 'manifest has a forbidden key' }
    const parsed = PackageManifestSchema.safeParse(JSON.parse(text))
    if (!parsed.success) return { ok: false, message: `invalid manifest: ${z.prettifyError(parsed.error)}` }
    if (parsed.data.modelSize !== modelLength) return { ok: false, message: 'manifest modelSize differs from the model length' }
    return {
      ok: true,
      package: {
        manifest: parsed.data,
        model: bytes.subarray(modelLengthAt + 4, signedEnd),
        signature: bytes.subarray(signedEnd),
        signed: bytes.subarray(0, signedEnd),
      },
    }
  } catch (err) {
    return { ok: false, message: `unreadable package: ${err instanceof Error ? err.message : String(err)}` }
  }
}

/** The bytes a publisher signs: header, manifest and model (everything but the signature). */
export function unsignedPackage(manifest: PackageManifestInput, model: Uint8Array): Uint8Array {
  const checked = PackageManifestSchema.parse(manifest)
  const json = textEncoder.encode(JSON.stringify(checked))
  const out = new Uint8Array(HEADER_BYTES + 4 + json.byteLength + 4 + model.byteLength)
  const view = new DataView(out.buffer)
  out.set(textEncoder.encode(PACKAGE_MAGIC), 0)
  out[6] = PACKAGE_FORMAT
  view.setUint32(HEADER_BYTES, json.byteLength, true)
  out.set(json, HEADER_BYTES + 4)
  view.setUint32(HEADER_BYTES + 4 + json.byteLength, model.byteLength, true)
  out.set(model, HEADER_BYTES + 8 + json.byteLength)
  return out
}

/** The complete package: the signed bytes followed by their 64-byte signature. */
export function attachSignature(unsigned: Uint8Array, signature: Uint8Array): Uint8Array {
  if (signature.byteLength !== SIGNATURE_BYTES) throw new RangeError(`an ed25519 signature is ${SIGNATURE_BYTES} bytes`)
  const out = new Uint8Array(unsigned.byteLength + SIGNATURE_BYTES)
  out.set(unsigned, 0)
  out.set(signature, unsigned.byteLength)
  return out
}

/** Base64 of a signature, as desired states carry it. */
export function signatureToBase64(signature: Uint8Array): string {
  return btoa(String.fromCharCode(...signature))
}
