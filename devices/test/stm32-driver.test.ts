import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { Op, ResetReason, SlotState, parseSlotImage, slotImageOf } from '../src/stm32/index.js'
import { denseImage } from './stm32/model.js'
import { emulatedRig } from './stm32/setup.js'
import { runDeviceDriverConformance } from './conformance.js'
import { attachEmulator, createStm32Driver, openMockPort, Stm32Emulator } from '../src/stm32/index.js'
import { randomUUID } from 'node:crypto'

runDeviceDriverConformance('stm32 over an emulated serial link', async () => {
  const path = `/dev/ttyCONF-${randomUUID().slice(0, 8)}`
  const port = attachEmulator(path, new Stm32Emulator({ mcuId: 'conformance' }))
  const driver = await createStm32Driver({ path, openPort: openMockPort, baudRate: 921600 })
  const close = driver.close.bind(driver)
  driver.close = async () => {
    await close()
    port.close()
  }
  return driver
})

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

describe('Stm32Driver over the emulated link', () => {
  it('completes a full update with the sha256 intact when the line flips bits and drops bytes', async () => {
    await using rig = await emulatedRig({ line: { bitErrorRate: 2e-4, dropRate: 2e-4, seed: 42 } })
    const image = denseImage({ inputs: 64, outputs: 200 })
    await rig.driver.load('b', image)
    const slot = rig.emulator.flash.slots[1]!
    expect(slot.state).toBe(SlotState.READY)
    expect(sha(slot.data)).toBe(sha(slotImageOf(image)))
    expect(parseSlotImage(slot.data)?.model.equals(Buffer.from(image.model))).toBe(true)
    // the faults really happened and were recovered from
    const faults =
      rig.port.toMcu.counters.flipped +
      rig.port.toMcu.counters.dropped +
      rig.port.toHost.counters.flipped +
      rig.port.toHost.counters.dropped
    expect(faults).toBeGreaterThan(0)
    expect(rig.driver.counters.retransmits).toBeGreaterThan(0)
    await rig.driver.activate('b')
    const x = Float32Array.from(image.manifest.golden[0]!.input)
    const r = await rig.driver.infer(x)
    Array.from(image.reference.run(x)).forEach((v, i) => {
      expect(r.output[i]).toBeCloseTo(v, 4)
    })
  })

  it('resumes a transfer where it stopped when the MCU resets mid-transfer', async () => {
    await using rig = await emulatedRig()
    const image = denseImage({ inputs: 64, outputs: 200, seed: 5 })
    const size = slotImageOf(image).length
    rig.emulator.resetAfterWrittenBytes = Math.floor(size / 2)
    const boots: { reason: number; reverted: boolean }[] = []
    rig.driver.on('booted', (b) => boots.push(b))
    await rig.driver.load('a', image)
    const report = rig.driver.lastTransfer!
    expect(report.resumes).toBe(1)
    expect(boots[0]?.reason).toBe(ResetReason.BROWN_OUT)
    // resumed, not restarted: far fewer than two images' worth of bytes were sent
    expect(report.bytesSent).toBeLessThan(size * 1.2)
    expect(sha(rig.emulator.flash.slots[0]!.data)).toBe(sha(slotImageOf(image)))
  })

  it('resumes after a broken link when the same model is loaded again', async () => {
    await using rig = await emulatedRig({ maxAttempts: 3 })
    const image = denseImage({ inputs: 64, outputs: 200, seed: 6 })
    const size = slotImageOf(image).length
    rig.driver.on('progress', (written) => {
      if (written > size / 3) rig.port.unplug()
    })
    await expect(rig.driver.load('a', image)).rejects.toMatchObject({ code: 'DEVICE_TIMEOUT' })
    const partial = rig.emulator.flash.slots[0]!.written
    expect(partial).toBeGreaterThan(0)
    rig.driver.removeAllListeners('progress')
    rig.port.plug()
    await rig.driver.load('a', image)
    expect(rig.driver.lastTransfer!.startOffset).toBe(partial)
    expect(rig.emulator.flash.slots[0]!.state).toBe(SlotState.READY)
  })

  it('reverts an unconfirmed trial when a brown-out resets the MCU, and keeps a confirmed one', async () => {
    await using rig = await emulatedRig()
    const v1 = denseImage({ version: '1.0.0', seed: 1 })
    const v2 = denseImage({ version: '2.0.0', seed: 2 })
    await rig.driver.load('a', v1)
    await rig.driver.activate('a')
    await rig.driver.confirm()
    await rig.driver.load('b', v2)
    await rig.driver.activate('b')
    const x = Float32Array.from(v1.manifest.golden[0]!.input)
    expect((await rig.driver.infer(x)).output[0]).toBeCloseTo(v2.reference.run(x)[0]!, 4)
    const booted = new Promise<{ reverted: boolean }>((resolve) => rig.driver.once('booted', resolve))
    rig.emulator.brownOut()
    expect((await booted).reverted).toBe(true)
    expect((await rig.driver.slots()).active).toBe(0)
    expect((await rig.driver.infer(x)).output[0]).toBeCloseTo(v1.reference.run(x)[0]!, 4)
    // a confirmed trial survives the next brown-out
    await rig.driver.activate('b')
    await rig.driver.confirm()
    const bootedAgain = new Promise<{ reverted: boolean }>((resolve) => rig.driver.once('booted', resolve))
    rig.emulator.brownOut()
    expect((await bootedAgain).reverted).toBe(false)
    expect((await rig.driver.slots()).active).toBe(1)
    expect((await rig.driver.infer(x)).output[0]).toBeCloseTo(v2.reference.run(x)[0]!, 4)
  })

  it('reports power, temperature, RAM and slot storage from the MCU stats', async () => {
    await using rig = await emulatedRig()
    const image = denseImage()
    await rig.driver.load('a', image)
    await rig.driver.activate('a')
    for (let i = 0; i < 5; i++) await rig.driver.infer(Float32Array.from(image.manifest.golden[0]!.input))
    const s = await rig.driver.readSensors()
    expect(s.powerMw).toBeGreaterThanOrEqual(rig.emulator.profile.power.idleMw)
    expect(s.temperatureC).toBeGreaterThan(rig.emulator.profile.thermal.ambientC)
    expect(s.memory?.totalBytes).toBe(1024 * 1024)
    expect(s.storage).toEqual({ freeBytes: 768 * 1024, totalBytes: 2 * 768 * 1024 })
    const stats = await rig.driver.stats()
    expect(stats.inferences).toBe(5)
    expect(rig.driver.hardware).toBe('stm32h743')
  })

  it('answers a retransmitted request from its kept response without executing it twice', async () => {
    await using rig = await emulatedRig()
    const image = denseImage()
    await rig.driver.load('a', image)
    await rig.driver.activate('a')
    // lose every response once: each request is sent again and must not run again
    let drop = true
    const deliver = rig.port.toHost.send.bind(rig.port.toHost)
    rig.port.toHost.send = (data) => {
      if (drop) drop = false
      else deliver(data)
    }
    await rig.driver.infer(Float32Array.from(image.manifest.golden[0]!.input))
    rig.port.toHost.send = deliver
    expect(rig.driver.counters.retransmits).toBeGreaterThanOrEqual(1)
    expect((await rig.driver.stats()).inferences).toBe(1)
    expect(Op.INFER).toBe(0x30)
  })
})
