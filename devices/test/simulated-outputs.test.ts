import type { ModelImage } from '@liquid-edge/agent'
import { generateSigningKeys, loadPrivateKey, parsePackage } from '@liquid-edge/package'
import { beforeAll, describe, expect, it } from 'vitest'
import { buildDemoPackages, cfcReference, createSimulatedDriver, type DemoPackage, type SimulatedDriverOptions } from '@liquid-edge/devices'

let demo: DemoPackage
let image: ModelImage

beforeAll(async () => {
  // 1.1.0: its evaluation set has 4 noisy labels in 32 (1.0.0's happens to have none).
  const [, v2] = await buildDemoPackages({ privateKey: loadPrivateKey(generateSigningKeys().privateKeyPem) })
  demo = v2!
  const parsed = parsePackage(demo.bytes)
  if (!parsed.ok) throw new Error(parsed.message)
  image = { manifest: parsed.package.manifest, model: parsed.package.model }
})

async function device(options: SimulatedDriverOptions = {}) {
  const d = await createSimulatedDriver({ realTime: false, seed: 5, deviceId: 'out-1', ...options })
  await d.load('a', image)
  await d.activate('a')
  return d
}

const argmax = (v: ArrayLike<number>): number => Array.from(v).indexOf(Math.max(...Array.from(v)))

/** Accuracy of a driver on the package's labelled evaluation set, as `evaluate` computes it. */
async function accuracy(d: Awaited<ReturnType<typeof device>>): Promise<number> {
  const samples = image.manifest.evaluation?.samples ?? []
  let correct = 0
  for (const s of samples) if (argmax((await d.infer(Float32Array.from(s.input))).output) === s.label) correct++
  return correct / samples.length
}

/** The share of labels the true model gets right: the set carries noisy labels, so below 1. */
function trueAccuracy(): number {
  const samples = image.manifest.evaluation?.samples ?? []
  return samples.filter((s) => argmax(cfcReference(demo.spec, s.input)) === s.label).length / samples.length
}

describe('simulated driver outputs', () => {
  it('answers what the package model computes when no fault is set, also for inputs the package does not list', async () => {
    const d = await device()
    for (const g of image.manifest.golden) {
      const y = (await d.infer(Float32Array.from(g.input))).output
      g.output.forEach((v, i) => {
        expect(Math.abs((y[i] ?? NaN) - v)).toBeLessThanOrEqual(image.manifest.tolerance)
      })
    }
    const other = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i))
    const y = (await d.infer(other)).output
    cfcReference(demo.spec, other).forEach((v, i) => {
      expect(y[i]).toBeCloseTo(v, 4)
    })
    await d.close()
  })

  it('scores the true accuracy on a noisy-label evaluation set, not 1.0', async () => {
    const d = await device()
    const expected = trueAccuracy()
    expect(expected).toBeLessThan(1)
    expect(await accuracy(d)).toBe(expected)
    await d.close()
  })

  it('loses accuracy and moves golden outputs off when output faults are set at run time', async () => {
    const d = await device()
    const healthy = await accuracy(d)
    d.faults.set({ outputBias: 5 })
    const biased = await accuracy(d)
    expect(biased).toBeLessThan(healthy - 0.3)
    const g = image.manifest.golden[0]!
    expect(Math.abs((await d.infer(Float32Array.from(g.input))).output[0]! - g.output[0]!)).toBeCloseTo(5, 3)
    d.faults.set({ outputBias: 0, outputNoise: 3 })
    expect(await accuracy(d)).toBeLessThan(healthy - 0.2)
    d.faults.clear()
    expect(await accuracy(d)).toBe(healthy)
    await d.close()
  })

  it('repeats the last output for every input when the output is stuck', async () => {
    const d = await device()
    const samples = image.manifest.evaluation?.samples ?? []
    const last = (await d.infer(Float32Array.from(samples[0]!.input))).output
    d.faults.set({ stuckOutput: true })
    for (const s of samples.slice(1, 6)) expect(Array.from((await d.infer(Float32Array.from(s.input))).output)).toEqual(Array.from(last))
    await d.close()
  })

  it('leaves the outputs of other versions alone when output faults are scoped to one version', async () => {
    const d = await device({ faults: { outputBias: 5, modelVersion: '9.9.9' } })
    expect(await accuracy(d)).toBe(trueAccuracy())
    d.faults.set({ modelVersion: image.manifest.version })
    expect(await accuracy(d)).toBeLessThan(trueAccuracy())
    await d.close()
  })

  it('echoes the expected answers in the opt-in echo-golden mode, where checks cannot fail', async () => {
    const d = await device({ inference: 'echo-golden' })
    expect(await accuracy(d)).toBe(1)
    await d.close()
  })

  it('gives every device on a model the same outputs from one shared, memoised model', async () => {
    const devices = await Promise.all(Array.from({ length: 50 }, (_, i) => device({ deviceId: `many-${i}` })))
    const input = Float32Array.from(image.manifest.golden[1]!.input)
    const outputs = await Promise.all(devices.map((d) => d.infer(input).then((r) => Array.from(r.output))))
    for (const o of outputs) expect(o).toEqual(outputs[0])
    // Each answer is a copy: a fault on one device never leaks into another's memoised output.
    devices[0]!.faults.set({ outputBias: 1 })
    expect((await devices[0]!.infer(input)).output[0]).toBeCloseTo(outputs[0]![0]! + 1, 5)
    expect(Array.from((await devices[1]!.infer(input)).output)).toEqual(outputs[0])
    await Promise.all(devices.map((d) => d.close()))
  })
})
