/**
 * @liquid-edge/package — the `.liquid` model package: its layout, parsing, signing, publisher keys
 * and the one verification every part runs (agent before staging, controller before storing,
 * `liquid-agent model verify`), with one `PACKAGE_*` error code per failure.
 */
export {
  PACKAGE_MAGIC,
  SIGNATURE_BYTES,
  MAX_MANIFEST_BYTES,
  parsePackage,
  encodeUnsigned,
  attachSignature,
  signatureToBase64,
  type ModelPackage,
  type PackageErrorCode,
  type PackageRefusal,
  type ParsePackageResult,
} from './format.js'
export { sha256Hex } from './hash.js'
export {
  generateSigningKeys,
  loadPrivateKey,
  loadPublicKey,
  loadPublisherKeys,
  publicKeyPem,
  type PublisherKey,
  type SigningKeyPair,
} from './keys.js'
export { signPackage, type ManifestDraft, type SignedPackage } from './sign.js'
export { verifyPackage, assertValidPackage, type VerifyPackageOptions, type VerifyPackageResult, type VerifiedPackage } from './verify.js'
