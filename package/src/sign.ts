import { sign, type KeyObject } from 'node:crypto'
import { PackageManifestSchema, FleetError, type PackageManifest, type PackageManifestInput } from '@liquid-edge/protocol'
import * as z from 'zod'
import { attachSignature, encodeUnsigned, signatureToBase64 } from './format.js'
import { sha256Hex } from './hash.js'

/** A manifest without what is computed from the model bytes. */
export type ManifestDraft = Omit<PackageManifestInput, 'modelSha256' | 'modelSize'>

/** A signed package and its artifact identity. */
export interface SignedPackage {
  bytes: Uint8Array
  manifest: PackageManifest
  /** sha256 of the whole `.liquid` file (what desired states name). */
  sha256: string
  /** base64 ed25519 signature (what desired states carry). */
  signature: string
}

/**
 * Build and sign a `.liquid` package: the model's sha256 and size go into the manifest, the
 * manifest is validated, and header, manifest and model are signed with the publisher's key.
 * @throws {FleetError} `PACKAGE_MANIFEST_INVALID` when the manifest breaks the schema.
 */
export function signPackage(draft: ManifestDraft, model: Uint8Array, privateKey: KeyObject): SignedPackage {
  const checked = PackageManifestSchema.safeParse({ ...draft, modelSha256: sha256Hex(model), modelSize: model.byteLength })
  if (!checked.success) throw new FleetError('PACKAGE_MANIFEST_INVALID', `invalid manifest: ${z.prettifyError(checked.error)}`)
  const unsigned = encodeUnsigned(checked.data, model)
  const signature = sign(null, unsigned, privateKey)
  const bytes = attachSignature(unsigned, signature)
  return { bytes, manifest: checked.data, sha256: sha256Hex(bytes), signature: signatureToBase64(signature) }
}
