import * as z from 'zod'
import {
  PACKAGE_FORMAT,
  PackageManifestSchema,
  type ErrorCode,
  type PackageManifest,
  type PackageManifestInput,
} from '@liquid-edge/protocol'

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
export const SIGNATURE_BYTES = 64
/** Largest manifest accepted (golden vectors and a small evaluation set fit easily). */
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024

/** Every way a package can be refused; each failure has exactly one code. */
export type PackageErrorCode = Extract<ErrorCode, `PACKAGE_${string}`>

/** A parsed package. `signed` is the byte range the signature covers. */
export interface ModelPackage {
  manifest: PackageManifest
  model: Uint8Array
  signature: Uint8Array
  signed: Uint8Array
}

/** A refusal: the one code of the failure and a sentence for a human. */
export interface PackageRefusal {
  ok: false
  code: PackageErrorCode
  message: string
}
export type ParsePackageResult = { ok: true; package: ModelPackage } | PackageRefusal

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder('utf-8', { fatal: true })
const HEADER_BYTES = 8

function refuse(code: PackageErrorCode, message: string): PackageRefusal {
  return { ok: false, code, message }
}

function parseManifest(bytes: Uint8Array, modelLength: number): { ok: true; manifest: PackageManifest } | PackageRefusal {
  let text: string
  try {
    text = textDecoder.decode(bytes)
  } catch {
    return refuse('PACKAGE_MANIFEST_INVALID', 'the manifest is not UTF-8')
  }
  // Refused before JSON.parse sees it: the manifest must never reach an object's prototype.
  if (/"(?:__proto__|constructor|prototype)"\s*:/.test(text)) return refuse('PACKAGE_MANIFEST_INVALID', 'the manifest has a forbidden key')
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return refuse('PACKAGE_MANIFEST_INVALID', 'the manifest is not JSON')
  }
  const parsed = PackageManifestSchema.safeParse(json)
  if (!parsed.success) return refuse('PACKAGE_MANIFEST_INVALID', `invalid manifest: ${z.prettifyError(parsed.error)}`)
  if (parsed.data.modelSize !== modelLength) {
    return refuse('PACKAGE_MANIFEST_INVALID', `the manifest says modelSize ${parsed.data.modelSize}, the model has ${modelLength} bytes`)
  }
  return { ok: true, manifest: parsed.data }
}

/**
 * Parse a package's layout and manifest; never throws. This checks the structure, the manifest
 * schema and the model size, not the signature or any hash: {@link verifyPackage} does all of it.
 */
export function parsePackage(bytes: Uint8Array): ParsePackageResult {
  if (bytes.byteLength < HEADER_BYTES + 8 + SIGNATURE_BYTES) return refuse('PACKAGE_TRUNCATED', 'the package is truncated (header)')
  const magic = String.fromCharCode(...bytes.subarray(0, 6))
  if (magic !== PACKAGE_MAGIC) return refuse('PACKAGE_MALFORMED', 'not a .liquid package (bad magic)')
  if (bytes[6] !== PACKAGE_FORMAT) return refuse('PACKAGE_MALFORMED', `unsupported package format ${bytes[6] ?? '?'}`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const manifestLength = view.getUint32(HEADER_BYTES, true)
  if (manifestLength > MAX_MANIFEST_BYTES) return refuse('PACKAGE_MANIFEST_INVALID', 'the manifest is too large')
  const modelLengthAt = HEADER_BYTES + 4 + manifestLength
  if (modelLengthAt + 4 > bytes.byteLength) return refuse('PACKAGE_TRUNCATED', 'the package is truncated (manifest)')
  const modelLength = view.getUint32(modelLengthAt, true)
  const signedEnd = modelLengthAt + 4 + modelLength
  if (signedEnd + SIGNATURE_BYTES > bytes.byteLength) return refuse('PACKAGE_TRUNCATED', 'the package is truncated (model or signature)')
  if (signedEnd + SIGNATURE_BYTES < bytes.byteLength) return refuse('PACKAGE_MALFORMED', 'the package has trailing bytes')
  const manifest = parseManifest(bytes.subarray(HEADER_BYTES + 4, modelLengthAt), modelLength)
  if (!manifest.ok) return manifest
  return {
    ok: true,
    package: {
      manifest: manifest.manifest,
      model: bytes.subarray(modelLengthAt + 4, signedEnd),
      signature: bytes.subarray(signedEnd),
      signed: bytes.subarray(0, signedEnd),
    },
  }
}

/**
 * The bytes a publisher signs: header, manifest and model (everything but the signature). Use
 * {@link signPackage} to make a package; this is for tools and tests that build unusual ones.
 * @throws {z.ZodError} when the manifest breaks the schema
 */
export function encodeUnsigned(manifest: PackageManifestInput, model: Uint8Array): Uint8Array {
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
  return Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString('base64')
}
