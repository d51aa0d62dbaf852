import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto'
import { FleetError, parsePackage, type ModelPackage } from '@liquid-edge/protocol'

/** A publisher key as PEM (SPKI), a raw 32-byte ed25519 key, or a KeyObject. */
export type PublisherKey = string | Uint8Array | KeyObject

const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

export function toPublicKey(key: PublisherKey): KeyObject {
  if (typeof key === 'string') return createPublicKey(key)
  if (key instanceof Uint8Array) {
    if (key.byteLength !== 32) throw new RangeError('a raw ed25519 public key is 32 bytes')
    return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, key]), format: 'der', type: 'spki' })
  }
  return key
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/**
 * Check a downloaded package before anything is staged: its sha256 against the desired state, its
 * embedded signature against the desired state's and against one of the publisher keys, its
 * structure and manifest, and the model hash the manifest declares.
 * @throws {FleetError} `AGENT_SHA256_MISMATCH`, `AGENT_SIGNATURE_INVALID`, `AGENT_PACKAGE_INVALID`
 */
export function verifyPackage(
  bytes: Uint8Array,
  expected: { sha256: string; signature: string },
  keys: readonly KeyObject[],
): ModelPackage {
  const actual = sha256Hex(bytes)
  if (actual !== expected.sha256) {
    throw new FleetError('AGENT_SHA256_MISMATCH', `artifact sha256 is ${actual}, the desired state says ${expected.sha256}`, {
      details: { expected: expected.sha256, actual },
    })
  }
  const parsed = parsePackage(bytes)
  if (!parsed.ok) throw new FleetError('AGENT_PACKAGE_INVALID', parsed.message)
  const pkg = parsed.package
  if (Buffer.from(pkg.signature).toString('base64') !== expected.signature) {
    throw new FleetError('AGENT_SIGNATURE_INVALID', 'the package signature differs from the one in the desired state')
  }
  if (!keys.some((key) => verify(null, pkg.signed, key, pkg.signature))) {
    throw new FleetError('AGENT_SIGNATURE_INVALID', 'the package signature does not verify against any configured publisher key')
  }
  if (sha256Hex(pkg.model) !== pkg.manifest.modelSha256) {
    throw new FleetError('AGENT_PACKAGE_INVALID', 'the model bytes do not match the manifest modelSha256')
  }
  return pkg
}
