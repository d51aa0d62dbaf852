import { createHash, verify as verifySignature, type KeyObject } from 'node:crypto'
import { FleetError, parsePackage, signatureToBase64, type ErrorCode, type ModelPackage } from '@liquid-edge/protocol'

/** Lowercase hex sha256. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export type PackageCheckCode = Extract<ErrorCode, 'AGENT_PACKAGE_INVALID' | 'AGENT_SIGNATURE_INVALID' | 'AGENT_SHA256_MISMATCH'>

/** A verified package with its artifact identity, or the first reason it was refused. */
export type VerifyPackageResult =
  { ok: true; package: ModelPackage; sha256: string; signature: string } | { ok: false; code: PackageCheckCode; reason: string }

export interface VerifyPackageOptions {
  /** The publisher's public key. Without it the signature is not checked (inspect only). */
  publicKey?: KeyObject
  /** The sha256 of the whole file the desired state names, when known. */
  expectedSha256?: string
  /** The base64 signature the desired state names, when known. */
  expectedSignature?: string
}

/**
 * Check a `.liquid` file: structure and manifest, the model's sha256 against the manifest, the whole
 * file's sha256 and signature against what the caller expects, and the ed25519 signature over
 * header, manifest and model. Never throws; the reason says which check failed.
 */
export function verifyPackage(bytes: Uint8Array, options: VerifyPackageOptions = {}): VerifyPackageResult {
  const sha256 = sha256Hex(bytes)
  if (options.expectedSha256 !== undefined && options.expectedSha256 !== sha256) {
    return { ok: false, code: 'AGENT_SHA256_MISMATCH', reason: `package sha256 is ${sha256}, expected ${options.expectedSha256}` }
  }
  const parsed = parsePackage(bytes)
  if (!parsed.ok) return { ok: false, code: 'AGENT_PACKAGE_INVALID', reason: parsed.message }
  const pkg = parsed.package
  const modelSha = sha256Hex(pkg.model)
  if (modelSha !== pkg.manifest.modelSha256) {
    return {
      ok: false,
      code: 'AGENT_PACKAGE_INVALID',
      reason: `model sha256 is ${modelSha}, the manifest says ${pkg.manifest.modelSha256}`,
    }
  }
  const signature = signatureToBase64(pkg.signature)
  if (options.expectedSignature !== undefined && options.expectedSignature !== signature) {
    return { ok: false, code: 'AGENT_SIGNATURE_INVALID', reason: 'the package signature differs from the one the desired state names' }
  }
  if (options.publicKey !== undefined && !verifySignature(null, pkg.signed, options.publicKey, pkg.signature)) {
    return { ok: false, code: 'AGENT_SIGNATURE_INVALID', reason: 'the signature does not verify against the publisher key' }
  }
  return { ok: true, package: pkg, sha256, signature }
}

/**
 * {@link verifyPackage} that throws.
 * @throws FleetError `AGENT_PACKAGE_INVALID`, `AGENT_SIGNATURE_INVALID` or `AGENT_SHA256_MISMATCH`.
 */
export function assertValidPackage(bytes: Uint8Array, options: VerifyPackageOptions = {}): ModelPackage {
  const result = verifyPackage(bytes, options)
  if (!result.ok) throw new FleetError(result.code, result.reason)
  return result.package
}
