import { describe, expect, it } from 'vitest'
import { buildCfcModel, checkGolden, packModel, REFERENCE_MODELS } from '@liquid-edge/devices'
import { assertValidPackage, generateSigningKeys, loadPrivateKey, loadPublicKey, sha256Hex } from '@liquid-edge/package'

const keys = generateSigningKeys()
const privateKey = loadPrivateKey(keys.privateKeyPem)
const spec = { ...REFERENCE_MODELS.tiny, seed: 5 }
const model = buildCfcModel(spec)
const goldenInputs = [Array.from({ length: 16 }, (_, i) => Math.sin(i)), Array.from({ length: 16 }, (_, i) => Math.cos(i))]
const options = { model, name: 'tiny', version: '1.2.3', latencyThresholdMs: 5, energyBudgetMw: 250, goldenInputs, privateKey }
const packed = await packModel(options)

describe('packModel', () => {
  it('fills in shapes, hashes and golden outputs from the model when packing', async () => {
    expect(packed.manifest.input).toEqual({ name: 'x', shape: [1, 16], dtype: 'float32' })
    expect(packed.manifest.output).toEqual({ name: 'y', shape: [1, 3], dtype: 'float32' })
    expect(packed.manifest.modelSha256).toBe(sha256Hex(model))
    expect(packed.manifest.modelSize).toBe(model.byteLength)
    expect(packed.sha256).toBe(sha256Hex(packed.bytes))
    const verified = assertValidPackage(packed.bytes, { keys: [loadPublicKey(keys.publicKeyPem)] })
    expect(await checkGolden(verified.package)).toMatchObject({ ok: true })
  })

  it('produces identical bytes when the same model is packed twice with the same key', async () => {
    const again = await packModel({ ...options, createdAt: packed.manifest.createdAt })
    expect(again.sha256).toBe(packed.sha256)
  })

  it('refuses a model that onnxruntime cannot load', async () => {
    await expect(
      packModel({ model: new Uint8Array([1, 2, 3]), name: 'bad', version: '1.0.0', latencyThresholdMs: 1, goldenInputs, privateKey }),
    ).rejects.toMatchObject({ code: 'AGENT_PACKAGE_INVALID' })
  })

  it('refuses golden inputs of the wrong length', async () => {
    await expect(
      packModel({ model, name: 'tiny', version: '1.0.0', latencyThresholdMs: 1, goldenInputs: [[1, 2, 3]], privateKey }),
    ).rejects.toThrow()
  })
})
