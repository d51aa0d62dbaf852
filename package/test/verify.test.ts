import { sign } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  assertValidPackage,
  attachSignature,
  encodeUnsigned,
  parsePackage,
  sha256Hex,
  signPackage,
  verifyPackage,
  type ModelPackage,
} from '@liquid-edge/package'
import { DRAFT, keyPair, modelBytes } from './support.js'

const publisher = keyPair()
const stranger = keyPair()
const model = modelBytes()
const signed = signPackage(DRAFT, model, publisher.privateKey)
const keys = [stranger.publicKey, publisher.publicKey]

function parts(bytes: Uint8Array): ModelPackage {
  const r = parsePackage(bytes)
  if (!r.ok) throw new Error(r.message)
  return r.package
}

/** Re-sign the layout of `manifest` and `body` with `privateKey`. */
function resign(manifest: Parameters<typeof encodeUnsigned>[0], body: Uint8Array, privateKey = publisher.privateKey): Uint8Array {
  const unsigned = encodeUnsigned(manifest, body)
  return attachSignature(unsigned, sign(null, unsigned, privateKey))
}

describe('verifyPackage', () => {
  it('accepts an intact package and says which trusted key signed it', () => {
    const r = verifyPackage(signed.bytes, { keys, expectedSha256: signed.sha256, expectedSignature: signed.signature })
    expect(r).toMatchObject({ ok: true, sha256: signed.sha256, signature: signed.signature, size: signed.bytes.byteLength, publisher: 1 })
  })

  it('refuses a corrupted download by its file hash before parsing it (PACKAGE_SHA256_MISMATCH)', () => {
    const r = verifyPackage(new Uint8Array(3), { keys, expectedSha256: signed.sha256 })
    expect(r).toMatchObject({ ok: false, code: 'PACKAGE_SHA256_MISMATCH' })
  })

  it('refuses a package signed by an untrusted key (PACKAGE_SIGNATURE_INVALID)', () => {
    const forged = signPackage(DRAFT, model, stranger.privateKey)
    expect(verifyPackage(forged.bytes, { keys: [publisher.publicKey] })).toMatchObject({ ok: false, code: 'PACKAGE_SIGNATURE_INVALID' })
  })

  it('refuses every package when no key is trusted (PACKAGE_SIGNATURE_INVALID)', () => {
    const r = verifyPackage(signed.bytes, { keys: [] })
    expect(r).toMatchObject({ ok: false, code: 'PACKAGE_SIGNATURE_INVALID', message: expect.stringMatching(/no publisher key/) as unknown })
  })

  it('refuses a validly signed package whose signature is not the one the desired state names (PACKAGE_SIGNATURE_MISMATCH)', () => {
    const other = signPackage({ ...DRAFT, description: 'same model, signed again' }, model, publisher.privateKey)
    expect(verifyPackage(other.bytes, { keys, expectedSignature: signed.signature })).toMatchObject({
      ok: false,
      code: 'PACKAGE_SIGNATURE_MISMATCH',
    })
  })

  it('refuses a swapped model under the old manifest and signature as a forgery (PACKAGE_SIGNATURE_INVALID)', () => {
    const { manifest, signature } = parts(signed.bytes)
    const swapped = attachSignature(encodeUnsigned(manifest, modelBytes(model.byteLength, 2)), signature)
    expect(verifyPackage(swapped, { keys })).toMatchObject({ ok: false, code: 'PACKAGE_SIGNATURE_INVALID' })
  })

  it('refuses a swapped model with a fixed-up manifest, re-signed by a stranger (PACKAGE_SIGNATURE_INVALID)', () => {
    const other = modelBytes(model.byteLength, 3)
    const forged = resign({ ...parts(signed.bytes).manifest, modelSha256: sha256Hex(other) }, other, stranger.privateKey)
    expect(verifyPackage(forged, { keys: [publisher.publicKey] })).toMatchObject({ ok: false, code: 'PACKAGE_SIGNATURE_INVALID' })
  })

  it('refuses a package its own publisher signed over the wrong model (PACKAGE_MODEL_HASH_MISMATCH)', () => {
    const inconsistent = resign(parts(signed.bytes).manifest, modelBytes(model.byteLength, 4))
    const r = verifyPackage(inconsistent, { keys })
    expect(r).toMatchObject({ ok: false, code: 'PACKAGE_MODEL_HASH_MISMATCH' })
    expect(!r.ok && r.message).toMatch(/the manifest says/)
  })

  it('refuses a flipped bit in the header, manifest, model or signature, never accepting one', () => {
    const { signed: signedPart } = parts(signed.bytes)
    const codes = new Set<string>()
    for (const at of [0, 6, 7, 9, 40, signedPart.byteLength - 20, signed.bytes.byteLength - 1]) {
      const tampered = Uint8Array.from(signed.bytes)
      tampered[at]! ^= 0x01
      const r = verifyPackage(tampered, { keys })
      expect(r.ok, `byte ${at}`).toBe(false)
      if (!r.ok) codes.add(r.code)
      expect(verifyPackage(tampered, { keys, expectedSha256: signed.sha256 })).toMatchObject({ code: 'PACKAGE_SHA256_MISMATCH' })
    }
    // Magic and format byte: not a package; a length field: the layout breaks; anything signed: a forgery.
    expect(codes).toContain('PACKAGE_MALFORMED')
    expect(codes).toContain('PACKAGE_SIGNATURE_INVALID')
  })

  it('refuses every truncation of a package with PACKAGE_TRUNCATED', () => {
    for (let n = 0; n < signed.bytes.byteLength; n++) {
      expect(verifyPackage(signed.bytes.subarray(0, n), { keys }), `${n} bytes`).toMatchObject({ ok: false, code: 'PACKAGE_TRUNCATED' })
    }
  })
})

describe('assertValidPackage', () => {
  it('throws the refusal as a FleetError; only a truncated file is worth fetching again', () => {
    expect(() => assertValidPackage(signed.bytes.subarray(0, 100), { keys })).toThrow(
      expect.objectContaining({ name: 'FleetError', code: 'PACKAGE_TRUNCATED', retryable: true }),
    )
    expect(() => assertValidPackage(signed.bytes, { keys: [stranger.publicKey] })).toThrow(
      expect.objectContaining({ code: 'PACKAGE_SIGNATURE_INVALID', retryable: false }),
    )
    expect(assertValidPackage(signed.bytes, { keys }).package.manifest.name).toBe('cfc-tiny')
  })
})
