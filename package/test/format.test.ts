import { describe, expect, it } from 'vitest'
import {
  SIGNATURE_BYTES,
  attachSignature,
  encodeUnsigned,
  parsePackage,
  sha256Hex,
  signPackage,
  signatureToBase64,
} from '@liquid-edge/package'
import { SignatureSchema } from '@liquid-edge/protocol'
import { DRAFT, keyPair, modelBytes } from './support.js'

const model = modelBytes()
const signature = new Uint8Array(SIGNATURE_BYTES).fill(7)
const manifest = { ...DRAFT, modelSha256: sha256Hex(model), modelSize: model.byteLength }
const bytes = attachSignature(encodeUnsigned(manifest, model), signature)

describe('.liquid layout', () => {
  it('parses what it builds', () => {
    const r = parsePackage(bytes)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.package.manifest).toMatchObject({ name: 'cfc-tiny', version: '1.0.0', tolerance: 1e-4, hardware: [] })
    expect(Array.from(r.package.model)).toEqual(Array.from(model))
    expect(Array.from(r.package.signature)).toEqual(Array.from(signature))
    expect(r.package.signed.byteLength).toBe(bytes.byteLength - SIGNATURE_BYTES)
    expect(SignatureSchema.safeParse(signatureToBase64(r.package.signature)).success).toBe(true)
  })

  it.each([
    ['truncated in the signature', bytes.subarray(0, bytes.byteLength - 10), 'PACKAGE_TRUNCATED'],
    ['truncated in the header', bytes.subarray(0, 20), 'PACKAGE_TRUNCATED'],
    ['empty', new Uint8Array(0), 'PACKAGE_TRUNCATED'],
    ['with trailing bytes', new Uint8Array([...bytes, 0]), 'PACKAGE_MALFORMED'],
    ['with a bad magic', new Uint8Array([0x50, ...bytes.subarray(1)]), 'PACKAGE_MALFORMED'],
    ['of another format version', Uint8Array.from(bytes, (b, i) => (i === 6 ? 2 : b)), 'PACKAGE_MALFORMED'],
  ])('refuses a package %s with %s', (_name, input, code) => {
    expect(parsePackage(input)).toMatchObject({ ok: false, code })
  })

  it('refuses a manifest whose model size is wrong with PACKAGE_MANIFEST_INVALID', () => {
    const tampered = attachSignature(encodeUnsigned({ ...manifest, modelSize: 99 }, new Uint8Array(99)), signature)
    // Shrink the declared model length by one and drop one byte: the layout fits, the size does not.
    const view = new DataView(tampered.buffer)
    view.setUint32(12 + view.getUint32(8, true), 98, true)
    const r = parsePackage(tampered.subarray(0, tampered.byteLength - 1))
    expect(r).toMatchObject({ ok: false, code: 'PACKAGE_MANIFEST_INVALID' })
    expect(!r.ok && r.message).toMatch(/modelSize 99/)
  })

  it.each([
    ['not UTF-8', new Uint8Array([0xff, 0xfe, 0x7b, 0x7d])],
    ['not JSON', new TextEncoder().encode('{"name": ')],
    ['with a __proto__ key', new TextEncoder().encode('{"__proto__": {"polluted": true}}')],
    ['breaking the schema', new TextEncoder().encode('{"format": 1}')],
  ])('refuses a manifest %s with PACKAGE_MANIFEST_INVALID', (_name, json) => {
    const out = new Uint8Array(12 + json.byteLength + 4 + SIGNATURE_BYTES)
    const view = new DataView(out.buffer)
    out.set(new TextEncoder().encode('LLNPKG\x01\x00'), 0)
    view.setUint32(8, json.byteLength, true)
    out.set(json, 12)
    expect(parsePackage(out)).toMatchObject({ ok: false, code: 'PACKAGE_MANIFEST_INVALID' })
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined()
  })
})

describe('signPackage', () => {
  it('fills in the model hash and size and signs what it builds', () => {
    const { privateKey } = keyPair()
    const signed = signPackage(DRAFT, model, privateKey)
    expect(signed.manifest).toMatchObject({ modelSha256: sha256Hex(model), modelSize: model.byteLength })
    expect(signed.sha256).toBe(sha256Hex(signed.bytes))
    const parsed = parsePackage(signed.bytes)
    expect(parsed.ok && signatureToBase64(parsed.package.signature)).toBe(signed.signature)
  })

  it('refuses golden vectors that do not fit the shapes with PACKAGE_MANIFEST_INVALID', () => {
    const { privateKey } = keyPair()
    expect(() => signPackage({ ...DRAFT, golden: [{ input: [1], output: [1, 2] }] }, model, privateKey)).toThrow(
      expect.objectContaining({ code: 'PACKAGE_MANIFEST_INVALID', message: expect.stringMatching(/expected 4 values/) as unknown }),
    )
  })
})
