import type { Clock, ModelImage } from '@liquid-edge/agent'
import { isFleetError } from '@liquid-edge/protocol'
import { beforeAll, describe, expect, it } from 'vitest'
import { createSimulatedDriver, Faults, HARDWARE_PROFILES, modelLatencyMs, estimateMacs, type SimulatedDriver } from '@liquid-edge/devices'
import { conformanceModels } from './conformance.js'

/** A clock the test moves by hand (timers never fire on their own). */
function manualClock(start = 1_000_000): Clock & { advance(ms: number): void } {
  let now = start
  return { now: () => now, setTimeout: () => 0, clearTimeout: () => undefined, advance: (ms) => (now += ms) }
}

let model: ModelImage
beforeAll(async () => {
  ;[model] = await conformanceModels()
})

async function device(options: Parameters<typeof createSimulatedDriver>[0] = {}): Promise<SimulatedDriver> {
  const d = await createSimulatedDriver({ realTime: false, ...options })
  await d.load('a', model)
  await d.activate('a')
  return d
}
const input = () => Float32Array.from(model.manifest.golden[0]!.input)

async function latencies(d: SimulatedDriver, n: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push((await d.infer(input())).latencyMs)
  return out
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

describe('simulated driver', () => {
  it('times inferences from the profile and the model size when healthy', async () => {
    for (const name of ['stm32h743', 'cortex-a53', 'x86-edge'] as const) {
      const d = await device({ profile: name })
      const expected = modelLatencyMs(HARDWARE_PROFILES[name], estimateMacs(model.model))
      expect(median(await latencies(d, 41)) / expected).toBeGreaterThan(0.9)
      expect(median(await latencies(d, 41)) / expected).toBeLessThan(1.1)
      await d.close()
    }
  })

  it('draws the same latencies and errors when given the same seed and device id', async () => {
    const run = async () => {
      const d = await device({ seed: 9, deviceId: 'dev-1', faults: { errorRate: 0.3 } })
      const seen = []
      for (let i = 0; i < 30; i++)
        seen.push(
          await d.infer(input()).then(
            (r) => r.latencyMs,
            () => 'error',
          ),
        )
      await d.close()
      return seen
    }
    expect(await run()).toEqual(await run())
  })

  it('shows a latency regression in every inference when the fault is switched on at run time', async () => {
    const d = await device()
    const before = median(await latencies(d, 21))
    d.faults.set({ latencyFactor: 3 })
    expect(median(await latencies(d, 21)) / before).toBeCloseTo(3, 0)
    d.faults.clear()
    expect(median(await latencies(d, 21)) / before).toBeCloseTo(1, 0)
  })

  it('limits a regression to one model version when the fault is scoped to it', async () => {
    const d = await device()
    const before = median(await latencies(d, 21))
    d.faults.set({ latencyFactor: 5, errorRate: 1, modelVersion: `${model.manifest.version}-other` })
    expect(median(await latencies(d, 21)) / before).toBeCloseTo(1, 0)
    d.faults.set({ modelVersion: model.manifest.version, errorRate: 0 })
    expect(median(await latencies(d, 21)) / before).toBeCloseTo(5, 0)
    await d.close()
  })

  it('scopes an energy spike to its model version in the power sensor too', async () => {
    const clock = manualClock()
    const d = await device({ clock, profile: 'x86-edge' })
    const idle = async () => {
      await d.readSensors()
      clock.advance(1000)
      return (await d.readSensors()).powerMw
    }
    d.faults.set({ energyFactor: 4, modelVersion: `${model.manifest.version}-other` })
    expect(await idle()).toBe(HARDWARE_PROFILES['x86-edge'].idleMw)
    d.faults.set({ modelVersion: model.manifest.version })
    expect(await idle()).toBe(4 * HARDWARE_PROFILES['x86-edge'].idleMw)
    await d.close()
  })

  it('fails about the configured share of inferences with DEVICE_INFERENCE_FAILED when the error rate is set', async () => {
    const d = await device({ faults: { errorRate: 0.25 } })
    let errors = 0
    for (let i = 0; i < 400; i++) {
      await d.infer(input()).catch((e: unknown) => {
        expect(isFleetError(e, 'DEVICE_INFERENCE_FAILED')).toBe(true)
        errors++
      })
    }
    expect(errors / 400).toBeGreaterThan(0.18)
    expect(errors / 400).toBeLessThan(0.32)
  })

  it('reports more power and energy per inference when an energy spike is injected', async () => {
    const clock = manualClock()
    const d = await device({ clock })
    const window = async () => {
      await d.readSensors()
      let energy = 0
      for (let i = 0; i < 50; i++) energy += (await d.infer(input())).energyMj ?? 0
      clock.advance(1000)
      return { power: (await d.readSensors()).powerMw ?? 0, energy }
    }
    const normal = await window()
    d.faults.set({ energyFactor: 2 })
    const spiked = await window()
    expect(spiked.power / normal.power).toBeCloseTo(2, 1)
    expect(spiked.energy / normal.energy).toBeCloseTo(2, 1)
  })

  it('heats up and throttles latency past the profile limit when drawing far more power', async () => {
    const clock = manualClock()
    const d = await device({ profile: 'stm32h743', clock, faults: { energyFactor: 100 } })
    const cold = (await d.readSensors()).temperatureC!
    const before = median(await latencies(d, 11))
    for (let i = 0; i < 20; i++) {
      await latencies(d, 5)
      clock.advance(30_000)
    }
    const hot = (await d.readSensors()).temperatureC!
    expect(hot).toBeGreaterThan(HARDWARE_PROFILES.stm32h743.thermal.throttleC)
    expect(hot).toBeGreaterThan(cold)
    expect(median(await latencies(d, 11)) / before).toBeCloseTo(HARDWARE_PROFILES.stm32h743.thermal.throttleFactor, 0)
  })

  it('stops answering while hung and answers again when the fault clears', async () => {
    const d = await device()
    d.faults.set({ hang: true })
    let settled = false
    const pending = d.infer(input()).then((r) => {
      settled = true
      return r
    })
    const selfTest = d.selfTest()
    await d.readSensors() // sensors still answer: the driver process is alive, the model is not
    expect(settled).toBe(false)
    d.faults.set({ hang: false })
    expect((await pending).output.length).toBe(4)
    expect((await selfTest).ok).toBe(true)
  })

  it('rejects hung calls with DEVICE_TIMEOUT when the driver closes', async () => {
    const d = await device({ faults: { hang: true } })
    const pending = d.infer(input())
    await d.close()
    await expect(pending).rejects.toMatchObject({ code: 'DEVICE_TIMEOUT' })
  })

  it('refuses to load with AGENT_DISK_FULL and reports no free storage when the disk is full', async () => {
    const faults = new Faults()
    const d = await device({ faults })
    faults.set({ diskFull: true })
    await expect(d.load('b', model)).rejects.toMatchObject({ code: 'AGENT_DISK_FULL' })
    expect((await d.readSensors()).storage?.freeBytes).toBe(0)
    expect((await d.selfTest()).ok).toBe(false)
    faults.clear()
    await d.load('b', model)
  })

  it('refuses a model larger than the flash slot with DEVICE_OUT_OF_MEMORY', async () => {
    const d = await createSimulatedDriver({ profile: 'stm32h743', realTime: false })
    const huge = new Uint8Array(HARDWARE_PROFILES.stm32h743.storage.slotBytes + 1)
    const { sha256Hex } = await import('@liquid-edge/package')
    const manifest = { ...model.manifest, modelSize: huge.byteLength, modelSha256: sha256Hex(huge) }
    await expect(d.load('a', { manifest, model: huge })).rejects.toMatchObject({ code: 'DEVICE_OUT_OF_MEMORY' })
  })

  it('waits the simulated latency in real time when it is a millisecond or more', async () => {
    const d = await device({ realTime: true, faults: { latencyFactor: 40 } })
    const t0 = performance.now()
    const r = await d.infer(input())
    expect(r.latencyMs).toBeGreaterThan(10)
    expect(performance.now() - t0).toBeGreaterThanOrEqual(r.latencyMs - 2)
  })
})
