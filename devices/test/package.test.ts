import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { attachSignature, parsePackage, unsignedPackage } from '@liquid-edge/protocol'
import { describe, expect, it } from 'vitest'
import {
  assertValidPackage,
  buildCfcModel,
  checkGolden,
  generateSigningKeys,
  loadPrivateKey,
  loadPublicKey,
  packModel,
  REFERENCE_MODELS,
  sha256Hex,
  verifyPackage,
} from '@liquid-edge/devices'

const keys = generateSigningKeys()
const privateKey = loadPrivateKey(keys.privateKeyPem)
const publicKey = loadPublicKey(keys.publicKeyPem)
const spec = { ...REFERENCE_MODELS.tiny, seed: 5 }
const model = buildCfcModel(spec)
const goldenInputs = [Array.from({ length: 16 }, (_, i) => Math.sin(i)), Array.from({ length: 16 }, (_, i) => Math.cos(i))]
const packed = await packModel({
  model,
  name: 'tiny',
  version: '1.2.3',
  latencyThresholdMs: 5,
  energyBudgetMw: 250,
  goldenInputs,
  privateKey,
})

describe('packModel', () => {
  it('fills in shapes, hashes and golden outputs from the model when packing', async () => {
    expect(packed.manifest.input).toEqual({ name: 'x', shape: [1, 16], dtype: 'float32' })
    expect(packed.manifest.output).toEqual({ name: 'y', shape: [1, 3], dtype: 'float32' })
    expect(packed.manifest.modelSha256).toBe(sha256Hex(model))
    expect(packed.manifest.modelSize).toBe(model.byteLength)
    expect(packed.sha256).toBe(sha256Hex(packed.bytes))
    const parsed = assertValidPackage(packed.bytes, { publicKey })
    expect(await checkGolden(parsed)).toMatchObject({ ok: true })
  })

  it('produces identical bytes when the same model is packed twice with the same key', async () => {
    const again = await packModel({
      model,
      name: 'tiny',
      version: '1.2.3',
      latencyThresholdMs: 5,
      energyBudgetMw: 250,
      goldenInputs,
      privateKey,
      createdAt: packed.manifest.createdAt,
    })
    expect(again.sha256).toBe(packed.sha256)
  })

  it('refuses a model that onnxruntime cannot load', async () => {
    await expect(
      packModel({ model: new Uint8Array([1, 2, 3]), name: 'bad', version: '1.0.0', latencyThresholdMs: 1, goldenInputs, privateKey }),
    ).rejects.toMatchObject({
      code: 'AGENT_PACKAGE_INVALID',
    })
  })

  it('refuses golden inputs of the wrong length', async () => {
    await expect(
      packModel({ model, name: 'tiny', version: '1.0.0', latencyThresholdMs: 1, goldenInputs: [[1, 2, 3]], privateKey }),
    ).rejects.toThrow()
  })
})

describe('verifyPackage', () => {
  it('accepts an intact package signed by the publisher key', () => {
    const r = verifyPackage(packed.bytes, { publicKey, expectedSha256: packed.sha256, expectedSignature: packed.signature })
    expect(r.ok).toBe(true)
  })

  it('refuses a package signed by another key with AGENT_SIGNATURE_INVALID', () => {
    const other = loadPublicKey(generateSigningKeys().publicKeyPem)
    expect(verifyPackage(packed.bytes, { publicKey: other })).toMatchObject({ ok: false, code: 'AGENT_SIGNATURE_INVALID' })
  })

  it('refuses a flipped bit anywhere in manifest, model or signature', () => {
    const parsed = parsePackage(packed.bytes)
    if (!parsed.ok) throw new Error(parsed.message)
    const manifestAt = 12 + 40
    const modelAt = parsed.package.signed.byteLength - 100
    const signatureAt = packed.bytes.byteLength - 10
    for (const at of [manifestAt, modelAt, signatureAt]) {
      const tampered = Uint8Array.from(packed.bytes)
      tampered[at]! ^= 0x01
      const r = verifyPackage(tampered, { publicKey })
      expect(r.ok, `byte ${at}`).toBe(false)
    }
  })

  it('says the model hash is wrong when the model is swapped and re-signed without updating the manifest', async () => {
    const parsed = parsePackage(packed.bytes)
    if (!parsed.ok) throw new Error(parsed.message)
    const other = buildCfcModel({ ...spec, seed: 6 })
    // Same length model, old manifest: structure parses, hash check must catch it.
    const unsigned = unsignedPackage(parsed.package.manifest, other)
    const { sign } = await import('node:crypto')
    const forged = attachSignature(unsigned, sign(null, unsigned, privateKey))
    const r = verifyPackage(forged, { publicKey })
    expect(r).toMatchObject({ ok: false, code: 'AGENT_PACKAGE_INVALID' })
    expect(!r.ok && r.reason).toMatch(/model sha256/)
  })

  it('refuses truncated packages and garbage with a clear reason', () => {
    for (const bytes of [
      packed.bytes.subarray(0, 50),
      packed.bytes.subarray(0, packed.bytes.byteLength - 1),
      new Uint8Array(200),
      new TextEncoder().encode('{"hello":1}'),
    ]) {
      const r = verifyPackage(bytes, { publicKey })
      expect(r).toMatchObject({ ok: false, code: 'AGENT_PACKAGE_INVALID' })
      expect(!r.ok && r.reason).toMatch(/truncated|magic|trailing|manifest/)
    }
  })

  it('refuses a package whose file hash differs from the one the desired state names', () => {
    expect(verifyPackage(packed.bytes, { expectedSha256: '0'.repeat(64) })).toMatchObject({ ok: false, code: 'AGENT_SHA256_MISMATCH' })
  })
})

describe('keys', () => {
  it('refuses a PEM that is not an ed25519 key with CONFIG_INVALID', async () => {
    const { generateKeyPairSync } = await import('node:crypto')
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    expect(() => loadPrivateKey(rsa)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
    expect(() => loadPublicKey('not a key')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
    const dir = mkdtempSync(join(tmpdir(), 'lln-keys-'))
    writeFileSync(join(dir, 'k.pem'), keys.privateKeyPem)
    // A private key PEM also yields the public key that verifies.
    expect(verifyPackage(packed.bytes, { publicKey: loadPublicKey(keys.privateKeyPem) }).ok).toBe(true)
  })
})
