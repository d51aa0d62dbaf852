import { describe, expect, it } from 'vitest'
import {
  buildCfcModel,
  cfcReference,
  estimateMacs,
  cfcMacs,
  openOnnxModel,
  REFERENCE_MODELS,
  seededRandom,
  type CfcSpec,
} from '@liquid-edge/devices'
import { sha256Hex } from '@liquid-edge/package'

async function maxDifference(spec: CfcSpec, samples: number): Promise<number> {
  const onnx = await openOnnxModel(buildCfcModel(spec), { inputName: 'x', outputName: 'y', inputShape: [1, spec.steps * spec.features] })
  const random = seededRandom(spec.seed + 100)
  let worst = 0
  try {
    for (let s = 0; s < samples; s++) {
      const x = Float32Array.from({ length: spec.steps * spec.features }, () => random() * 4 - 2)
      const y = await onnx.run(x)
      const ref = cfcReference(spec, x)
      expect(y.length).toBe(spec.classes)
      ref.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - y[i]!))))
    }
  } finally {
    await onnx.release()
  }
  return worst
}

describe('CfC reference models', () => {
  it.each(['nano', 'tiny', 'small', 'medium'] as const)(
    'onnxruntime output equals the TypeScript cell when the model is %s',
    async (size) => {
      expect(await maxDifference({ ...REFERENCE_MODELS[size], seed: 7 }, 8)).toBeLessThan(1e-5)
    },
  )

  it('matches the reference with a non-unit time step', async () => {
    expect(await maxDifference({ ...REFERENCE_MODELS.tiny, seed: 9, dt: 0.25 }, 4)).toBeLessThan(1e-5)
  })

  it('builds byte-identical models from the same seed and different ones from another seed', () => {
    const a = buildCfcModel({ ...REFERENCE_MODELS.small, seed: 1 })
    const b = buildCfcModel({ ...REFERENCE_MODELS.small, seed: 1 })
    const c = buildCfcModel({ ...REFERENCE_MODELS.small, seed: 2 })
    expect(sha256Hex(a)).toBe(sha256Hex(b))
    expect(sha256Hex(a)).not.toBe(sha256Hex(c))
  })

  it('reads the multiply-accumulate count back from the model metadata', () => {
    const spec = { ...REFERENCE_MODELS.medium, seed: 1 }
    expect(estimateMacs(buildCfcModel(spec))).toBe(cfcMacs(spec))
    expect(estimateMacs(new Uint8Array(400))).toBe(100)
  })
})
