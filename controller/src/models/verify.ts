import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { FleetError, parsePackage, signatureToBase64, type PackageManifest } from '@liquid-edge/protocol'

export interface VerifiedPackage {
  manifest: PackageManifest
  sha256: string
  size: number
  signature: string
  /** Index of the publisher key that verified the signature. */
  publisher: number
}

/** Publisher keys from config: PEM file paths, PEM text, or base64 SPKI DER, comma-separated. */
export function loadPublisherKeys(spec: string | readonly string[]): KeyObject[] {
  const items =
    typeof spec === 'string'
      ? spec
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
      : spec
  return items.map((item) => {
    if (item.includes('BEGIN PUBLIC KEY')) return createPublicKey(item)
    if (/^[A-Za-z0-9+/=]+$/.test(item) && item.length > 40)
      return createPublicKey({ key: Buffer.from(item, 'base64'), format: 'der', type: 'spki' })
    return createPublicKey(readFileSync(item))
  })
}

/**
 * Check a `.liquid` package: layout and manifest, the model's sha256 against the manifest, and
 * the ed25519 signature against the publisher keys.
 * @throws {FleetError} `MODEL_PACKAGE_INVALID`, `MODEL_SIGNATURE_INVALID`
 */
export function verifyPackage(bytes: Uint8Array, keys: readonly KeyObject[]): VerifiedPackage {
  const parsed = parsePackage(bytes)
  if (!parsed.ok) throw new FleetError('MODEL_PACKAGE_INVALID', parsed.message)
  const pkg = parsed.package
  const modelSha = createHash('sha256').update(pkg.model).digest('hex')
  if (modelSha !== pkg.manifest.modelSha256)
    throw new FleetError('MODEL_PACKAGE_INVALID', 'the model bytes do not match the manifest modelSha256')
  const publisher = keys.findIndex((k) => verify(null, pkg.signed, k, pkg.signature))
  if (publisher < 0) {
    throw new FleetError(
      'MODEL_SIGNATURE_INVALID',
      keys.length === 0
        ? 'no publisher keys are configured (LLN_PUBLISHER_KEYS)'
        : 'the package signature verifies against no configured publisher key',
    )
  }
  return {
    manifest: pkg.manifest,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.byteLength,
    signature: signatureToBase64(pkg.signature),
    publisher,
  }
}
