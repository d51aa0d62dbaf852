/**
 * The C firmware core (devices/stm32/firmware): its host unit tests, compiled with the machine's
 * gcc, and the compiled firmware against the TypeScript driver through a pseudo-terminal.
 * Skipped (with the reason in the test name) when gcc is missing.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createStm32Driver, openPty, parseSlotImage, slotImageOf, type Pty } from '../src/stm32/index.js'
import { denseImage } from './stm32/model.js'

const FIRMWARE = fileURLToPath(new URL('../stm32/firmware/', import.meta.url))
const gcc = spawnSync('gcc', ['--version']).status === 0
const python = spawnSync('python3', ['--version']).status === 0
const title = gcc ? 'C firmware core (gcc)' : 'C firmware core — SKIPPED: gcc not found on this machine'

describe.skipIf(!gcc)(title, () => {
  const build = mkdtempSync(join(tmpdir(), 'lln-fw-'))
  const cflags = ['-std=c99', '-pedantic', '-O2', '-Wall', '-Wextra', '-Werror', `-I${join(FIRMWARE, 'include')}`]
  const sources = ['src/codec.c', 'src/fw.c'].map((s) => join(FIRMWARE, s))
  afterAll(() => {
    rmSync(build, { recursive: true, force: true })
  })

  it('passes its host unit tests when compiled as pedantic C99 with -Wall -Wextra -Werror (core also -Wconversion)', () => {
    for (const src of sources) execFileSync('gcc', [...cflags, '-Wconversion', '-c', src, '-o', join(build, 'core.o')])
    const exe = join(build, 'test_fw')
    execFileSync('gcc', [...cflags, ...sources, join(FIRMWARE, 'test/test_fw.c'), '-o', exe])
    const run = spawnSync(exe, { encoding: 'utf8' })
    expect(run.stdout).toContain('ok: all firmware tests passed')
    expect(run.status).toBe(0)
  })

  describe.skipIf(!python)('against the TypeScript driver through a pty', () => {
    let pty: Pty
    beforeAll(async () => {
      const exe = join(build, 'lln_fw_host')
      execFileSync('gcc', [...cflags, ...sources, join(FIRMWARE, 'host/board_host.c'), '-o', exe])
      pty = await openPty({ exec: [exe, 'c-mcu-7'] })
    })
    afterAll(async () => {
      await pty.close()
    })

    it('handshakes, transfers, runs a trial, infers, and reverts the trial on reset', async () => {
      const driver = await createStm32Driver({ path: pty.path, baudRate: 115200 })
      try {
        expect(driver.info).toMatchObject({ mcuId: 'c-mcu-7', firmware: 'lln-fw-c-0.1.0', hardware: 'stm32h743', maxPayload: 1024 })
        const image = denseImage({ inputs: 8, outputs: 3, seed: 9 })
        await driver.load('a', image)
        const slots = await driver.slots()
        expect(slots.slots[0]).toMatchObject({ state: 2, size: slotImageOf(image).length })
        await driver.activate('a')
        const x = Float32Array.from([1, 2, 3, 4, 0.5, 0.25, 0, -1])
        const r = await driver.infer(x)
        // the host board's stand-in model: out[j] = sum(x) + model[j] / 256
        const model = parseSlotImage(slotImageOf(image))!.model
        expect(Array.from(r.output)).toEqual([0, 1, 2].map((j) => Math.fround(9.75 + model[j]! / 256)))
        expect(r.latencyMs).toBeGreaterThan(0)
        await expect(driver.infer(new Float32Array(3))).rejects.toMatchObject({ code: 'AGENT_INPUT_SHAPE' })
        const sensors = await driver.readSensors()
        expect(sensors).toMatchObject({ powerMw: 150, temperatureC: 31 })
        const booted = new Promise<{ reverted: boolean }>((resolve) => driver.once('booted', resolve))
        await driver.reset()
        expect((await booted).reverted).toBe(true)
        await expect(driver.infer(x)).rejects.toMatchObject({ code: 'AGENT_NO_MODEL' })
      } finally {
        await driver.close()
      }
    })
  })
})
