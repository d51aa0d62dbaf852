import { describe, expect, it } from 'vitest'
import {
  SIGNATURE_BYTES,
  attachSignature,
  parsePackage,
  signatureToBase64,
  unsignedPackage,
  SignatureSchema,
  type PackageManifestInput,
} from '@liquid-edge/protocol'

const model = new Uint8Array([8, 1, 18, 4, 116, 101, 115, 116])
const manifest: PackageManifestInput = {
  format: 1,
  name: 'cfc-tiny',
  version: '1.0.0',
  createdAt: 1_700_000_000_000,
  runtime: 'onnx',
  input: { name: 'x', shape: [1, 4], dtype: 'float32' },
  output: { name: 'y', shape: [1, 2], dtype: 'float32' },
  latencyThresholdMs: 5,
  golden: [{ input: [0, 1, 2, 3], output: [0.5, 0.25] }],
  modelSha256: 'c'.repeat(64),
  modelSize: model.byteLength,
}
const signature = new Uint8Array(SIGNATURE_BYTES).fill(7)
const pkg = attachSignature(unsignedPackage(manifest, model), signature)

describe('.liquid package layout', () => {
  it('parses what it builds', () => {
    const r = parsePackage(pkg)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.package.manifest).toMatchObject({ name: 'cfc-tiny', version: '1.0.0', tolerance: 1e-4, hardware: [] })
    expect(Array.from(r.package.model)).toEqual(Array.from(model))
    expect(Array.from(r.package.signature)).toEqual(Array.from(signature))
    expect(r.package.signed.byteLength).toBe(pkg.byteLength - SIGNATURE_BYTES)
    expect(SignatureSchema.safeParse(signatureToBase64(r.package.signature)).success).toBe(true)
  })

  it.each([
    ['truncated', pkg.subarray(0, pkg.byteLength - 10), /truncated/],
    ['with trailing bytes', new Uint8Array([...pkg, 0]), /trailing/],
    ['with a bad magic', new Uint8Array([0x50, ...pkg.subarray(1)]), /magic/],
    ['empty', new Uint8Array(0), /truncated/],
  ])('refuses a package %s', (_name, bytes, message) => {
    const r = parsePackage(bytes)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.message).toMatch(message)
  })

  it('refuses a manifest whose golden vectors do not fit the shapes', () => {
    expect(() => unsignedPackage({ ...manifest, golden: [{ input: [1], output: [1, 2] }] }, model)).toThrow(/expected 4 values/)
  })

  it('refuses a manifest whose model size is wrong', () => {
    const bytes = attachSignature(unsignedPackage({ ...manifest, modelSize: 99 }, new Uint8Array(99)), signature)
    const tampered = new Uint8Array(bytes)
    // Shrink the declared model length by one and drop one byte: structure fits, size does not.
    const view = new DataView(tampered.buffer)
    const mlen = view.getUint32(8, true)
    view.setUint32(12 + mlen, 98, true)
    const r = parsePackage(tampered.subarray(0, tampered.byteLength - 1))
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.message).toMatch(/modelSize/)
  })
})
