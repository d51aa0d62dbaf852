/**
 * The driver conformance suite: every DeviceDriver (edge-node, simulated, STM32 gateway) must pass it.
 *
 *   import { runDeviceDriverConformance } from './conformance.js'
 *   runDeviceDriverConformance('my-driver', () => createMyDriver(...))
 *
 * Each test gets a fresh driver from `makeDriver` and closes it afterwards. Fixture models are two
 * small CfC networks of the same shape (different weights) packed with a throwaway key.
 */
import type { DeviceDriver, ModelImage, SlotName } from '@liquid-edge/agent'
import { isFleetError, type ErrorCode } from '@liquid-edge/protocol'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { buildCfcModel, packModel, REFERENCE_MODELS, seededRandom } from '@liquid-edge/devices'
import { generateSigningKeys, loadPrivateKey } from '@liquid-edge/package'

export interface ConformanceOptions {
  /** Fixture models (two of the same input/output shape, different outputs). Default: two small CfC nets. */
  models?: () => Promise<[ModelImage, ModelImage]>
}

let fixtures: Promise<[ModelImage, ModelImage]> | undefined

/** Two small CfC packages with different weights, built once per test file. */
export function conformanceModels(): Promise<[ModelImage, ModelImage]> {
  fixtures ??= (async () => {
    const privateKey = loadPrivateKey(generateSigningKeys().privateKeyPem)
    const shape = REFERENCE_MODELS.small
    const random = seededRandom(42)
    const goldenInputs = [0, 1, 2].map(() => Array.from({ length: shape.steps * shape.features }, () => random() * 2 - 1))
    const images = await Promise.all(
      [11, 12].map(async (seed, i) => {
        const model = buildCfcModel({ ...shape, seed })
        const packed = await packModel({
          model,
          name: 'conformance',
          version: `1.0.${i}`,
          latencyThresholdMs: 100,
          goldenInputs,
          privateKey,
        })
        return { manifest: packed.manifest, model }
      }),
    )
    return [images[0]!, images[1]!]
  })()
  return fixtures
}

function golden(image: ModelImage, i = 0): { input: Float32Array; output: number[] } {
  const g = image.manifest.golden[i]!
  return { input: Float32Array.from(g.input), output: g.output }
}

function expectClose(actual: Float32Array, expected: number[], tolerance: number): void {
  expect(actual.length).toBe(expected.length)
  expected.forEach((v, i) => {
    expect(Math.abs(actual[i]! - v)).toBeLessThanOrEqual(tolerance)
  })
}

async function expectCode(promise: () => Promise<unknown>, code: ErrorCode): Promise<void> {
  let call: Promise<unknown>
  try {
    call = promise()
  } catch (err) {
    throw new Error(`the driver threw synchronously instead of rejecting: ${String(err)}`)
  }
  const err: unknown = await call.then(
    () => new Error(`expected a rejection with ${code}`),
    (e: unknown) => e,
  )
  expect(isFleetError(err) ? err.code : err).toBe(code)
}

/** Register the conformance tests for one driver. */
export function runDeviceDriverConformance(name: string, makeDriver: () => Promise<DeviceDriver>, options: ConformanceOptions = {}): void {
  describe(`DeviceDriver conformance: ${name}`, () => {
    let models: [ModelImage, ModelImage]
    let open: DeviceDriver[] = []
    const driver = async (): Promise<DeviceDriver> => {
      const d = await makeDriver()
      open.push(d)
      return d
    }
    const loaded = async (slot: SlotName = 'a', image: ModelImage = models[0]): Promise<DeviceDriver> => {
      const d = await driver()
      await d.load(slot, image)
      await d.activate(slot)
      return d
    }

    beforeAll(async () => {
      models = await (options.models ?? conformanceModels)()
    })
    afterEach(async () => {
      await Promise.all(open.map((d) => d.close()))
      open = []
    })

    it('reports a hardware label when created', async () => {
      const d = await driver()
      expect(d.hardware).toMatch(/^[A-Za-z0-9._-]{1,63}$/)
    })

    it('reproduces the golden outputs when a model is loaded and activated', async () => {
      const d = await loaded()
      for (let i = 0; i < models[0].manifest.golden.length; i++) {
        const g = golden(models[0], i)
        const r = await d.infer(g.input)
        expectClose(r.output, g.output, models[0].manifest.tolerance)
        expect(Number.isFinite(r.latencyMs) && r.latencyMs >= 0).toBe(true)
        expect(r.energyMj === null || (Number.isFinite(r.energyMj) && r.energyMj >= 0)).toBe(true)
      }
    })

    it('runs the standby slot on request and switches outputs when another slot is activated', async () => {
      const d = await loaded('a', models[0])
      await d.load('b', models[1])
      const g0 = golden(models[0])
      const g1 = golden(models[1])
      expectClose((await d.infer(g1.input, 'b')).output, g1.output, 1e-4)
      expectClose((await d.infer(g0.input)).output, g0.output, 1e-4)
      await d.activate('b')
      expectClose((await d.infer(g1.input)).output, g1.output, 1e-4)
    })

    it('refuses to load into the active slot and keeps serving when asked to', async () => {
      const d = await loaded('a', models[0])
      await expectCode(() => d.load('a', models[1]), 'DEVICE_UNSUPPORTED')
      const g = golden(models[0])
      expectClose((await d.infer(g.input)).output, g.output, 1e-4)
    })

    it('replaces a standby model when a slot is loaded again', async () => {
      const d = await loaded('a', models[0])
      await d.load('b', models[0])
      await d.load('b', models[1])
      const g1 = golden(models[1])
      expectClose((await d.infer(g1.input, 'b')).output, g1.output, 1e-4)
    })

    it('rejects an input of the wrong length with AGENT_INPUT_SHAPE', async () => {
      const d = await loaded()
      await expectCode(() => d.infer(new Float32Array(3)), 'AGENT_INPUT_SHAPE')
      await expectCode(() => d.infer(new Float32Array(golden(models[0]).input.length + 1)), 'AGENT_INPUT_SHAPE')
    })

    it('rejects inference and activation with AGENT_NO_MODEL when the slot is empty', async () => {
      const d = await driver()
      await expectCode(() => d.infer(golden(models[0]).input), 'AGENT_NO_MODEL')
      await expectCode(() => d.activate('b'), 'AGENT_NO_MODEL')
      await d.load('a', models[0])
      await expectCode(() => d.infer(golden(models[0]).input, 'b'), 'AGENT_NO_MODEL')
    })

    it('refuses with AGENT_LOAD_FAILED a model whose bytes differ from the manifest', async () => {
      const d = await driver()
      const tampered = Uint8Array.from(models[0].model)
      tampered[tampered.length - 5]! ^= 0xff
      await expectCode(() => d.load('a', { manifest: models[0].manifest, model: tampered }), 'AGENT_LOAD_FAILED')
      await expectCode(() => d.activate('a'), 'AGENT_NO_MODEL')
    })

    it('unloads a slot so that it can no longer run, and ignores unloading an empty one', async () => {
      const d = await loaded('a', models[0])
      await d.unload('b')
      await d.load('b', models[1])
      await d.unload('b')
      await expectCode(() => d.infer(golden(models[1]).input, 'b'), 'AGENT_NO_MODEL')
      expectClose((await d.infer(golden(models[0]).input)).output, golden(models[0]).output, 1e-4)
    })

    it('answers every one of many concurrent inferences correctly', async () => {
      const d = await loaded()
      const gs = models[0].manifest.golden.map((_, i) => golden(models[0], i))
      const results = await Promise.all(Array.from({ length: 24 }, (_, i) => d.infer(gs[i % gs.length]!.input)))
      results.forEach((r, i) => {
        expectClose(r.output, gs[i % gs.length]!.output, 1e-4)
      })
    })

    it('reads sensors as numbers or null (unknown), never invented shapes', async () => {
      const d = await loaded()
      const s = await d.readSensors()
      const numberOrNull = (v: unknown) => v === null || (typeof v === 'number' && Number.isFinite(v))
      expect(numberOrNull(s.powerMw) && (s.powerMw ?? 0) >= 0).toBe(true)
      expect(numberOrNull(s.temperatureC)).toBe(true)
      if (s.memory !== null) {
        expect(s.memory.usedBytes).toBeGreaterThanOrEqual(0)
        expect(numberOrNull(s.memory.totalBytes)).toBe(true)
      }
      if (s.storage !== null) expect(s.storage.freeBytes).toBeLessThanOrEqual(s.storage.totalBytes)
    })

    it('passes its self-test when healthy', async () => {
      const d = await driver()
      const r = await d.selfTest()
      expect(r.ok).toBe(true)
    })

    it('closes idempotently and then rejects every call without throwing synchronously', async () => {
      const d = await loaded()
      await d.close()
      await d.close()
      for (const call of [
        () => d.infer(golden(models[0]).input),
        () => d.load('b', models[1]),
        () => d.activate('a'),
        () => d.readSensors(),
        () => d.selfTest(),
      ]) {
        let p: Promise<unknown>
        expect(() => (p = call())).not.toThrow()
        await expect(p!).rejects.toSatisfy((e: unknown) => isFleetError(e))
      }
    })
  })
}
