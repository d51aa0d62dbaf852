import { verify, type KeyObject } from 'node:crypto'
import { FleetError } from '@liquid-edge/protocol'
import { parsePackage, signatureToBase64, type ModelPackage, type PackageRefusal } from './format.js'
import { sha256Hex } from './hash.js'

/** What a verifier knows besides the file. */
export interface VerifyPackageOptions {
  /** The trusted publisher keys; the signature must verify against one of them. */
  keys: readonly KeyObject[]
  /** The sha256 of the whole file that the desired state (or the operator) names. */
  expectedSha256?: string
  /** The base64 signature that the desired state names. */
  expectedSignature?: string
}

/** A package that passed every check, with its artifact identity. */
export interface VerifiedPackage {
  ok: true
  package: ModelPackage
  /** sha256 of the whole file. */
  sha256: string
  size: number
  /** base64 signature, as desired states carry it. */
  signature: string
  /** Index in `keys` of the publisher key that verified the signature. */
  publisher: number
}
export type VerifyPackageResult = VerifiedPackage | PackageRefusal

/**
 * Check a `.liquid` file, in this order (the first failure is the answer, never a throw):
 * 1. the whole file's sha256 against the expected one (`PACKAGE_SHA256_MISMATCH`): a corrupted
 *    download is refused before a byte of it is parsed;
 * 2. layout and manifest (`PACKAGE_TRUNCATED`, `PACKAGE_MALFORMED`, `PACKAGE_MANIFEST_INVALID`);
 * 3. the signature against the expected one (`PACKAGE_SIGNATURE_MISMATCH`) and against the
 *    trusted keys (`PACKAGE_SIGNATURE_INVALID`): authenticity before content, so any change to a
 *    signed byte reads as a forgery;
 * 4. the model bytes against the manifest's modelSha256 (`PACKAGE_MODEL_HASH_MISMATCH`).
 */
export function verifyPackage(bytes: Uint8Array, options: VerifyPackageOptions): VerifyPackageResult {
  const sha256 = sha256Hex(bytes)
  if (options.expectedSha256 !== undefined && options.expectedSha256 !== sha256) {
    return { ok: false, code: 'PACKAGE_SHA256_MISMATCH', message: `the file's sha256 is ${sha256}, expected ${options.expectedSha256}` }
  }
  const parsed = parsePackage(bytes)
  if (!parsed.ok) return parsed
  const pkg = parsed.package
  const signature = signatureToBase64(pkg.signature)
  if (options.expectedSignature !== undefined && options.expectedSignature !== signature) {
    return { ok: false, code: 'PACKAGE_SIGNATURE_MISMATCH', message: 'the package carries a different signature than the one expected' }
  }
  const publisher = options.keys.findIndex((key) => verify(null, pkg.signed, key, pkg.signature))
  if (publisher < 0) {
    const message =
      options.keys.length === 0
        ? 'no publisher key is configured to verify the signature'
        : 'the signature verifies against no trusted publisher key'
    return { ok: false, code: 'PACKAGE_SIGNATURE_INVALID', message }
  }
  const modelSha256 = sha256Hex(pkg.model)
  if (modelSha256 !== pkg.manifest.modelSha256) {
    return {
      ok: false,
      code: 'PACKAGE_MODEL_HASH_MISMATCH',
      message: `the model's sha256 is ${modelSha256}, the manifest says ${pkg.manifest.modelSha256}`,
    }
  }
  return { ok: true, package: pkg, sha256, size: bytes.byteLength, signature, publisher }
}

/**
 * {@link verifyPackage} that throws the refusal as a {@link FleetError} (details carry the
 * expected and actual values where there are some).
 * @throws {FleetError} any `PACKAGE_*` code
 */
export function assertValidPackage(bytes: Uint8Array, options: VerifyPackageOptions): VerifiedPackage {
  const result = verifyPackage(bytes, options)
  if (!result.ok) throw new FleetError(result.code, result.message, { retryable: result.code === 'PACKAGE_TRUNCATED' })
  return result
}
