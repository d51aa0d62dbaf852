/** `liquid-agent emulate-stm32 --pty`: the emulator on a pseudo-terminal, driven through the real serialport binding. */
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { lstatSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { isFleetError } from '@liquid-edge/protocol'
import { EmulateConfigSchema, createStm32Driver, gatewayConfig, startPtyEmulators } from '../src/stm32/index.js'
import { denseImage } from './stm32/model.js'

const python = spawnSync('python3', ['--version']).status === 0

describe.skipIf(!python)(python ? 'emulate-stm32 --pty' : 'emulate-stm32 --pty — SKIPPED: python3 not found', () => {
  it('serves an emulated stm32h743 on a pty that the real serialport binding can update and query', async () => {
    const link = join(tmpdir(), `ttySTM32-${process.pid}-${Date.now()}`)
    const running = await startPtyEmulators(EmulateConfigSchema.parse({ mcuId: 'pty-mcu', link, timing: 'instant' }))
    try {
      expect(lstatSync(link).isSymbolicLink()).toBe(true)
      const driver = await createStm32Driver({ path: link, baudRate: 921600 })
      try {
        expect(driver.info).toMatchObject({ mcuId: 'pty-mcu', hardware: 'stm32h743', maxPayload: 4096 })
        const image = denseImage({ inputs: 32, outputs: 64, seed: 3 })
        await driver.load('b', image)
        await driver.activate('b')
        const x = Float32Array.from(image.manifest.golden[0]!.input)
        const r = await driver.infer(x)
        Array.from(image.reference.run(x)).forEach((v, i) => {
          expect(r.output[i]).toBeCloseTo(v, 4)
        })
        expect(running.items[0]!.emulator.flash.active).toBe(1)
      } finally {
        await driver.close()
      }
    } finally {
      await running.close()
    }
    expect(() => lstatSync(link)).toThrow()
  })
})

describe.skipIf(!python)('liquid-agent emulate-stm32 --pty (the executable)', () => {
  it('prints the pty of each emulated MCU, serves it, and exits on SIGTERM', async () => {
    const bin = fileURLToPath(new URL('../src/bin/liquid-agent.ts', import.meta.url))
    const child = spawn(
      process.execPath,
      [
        '--conditions=@liquid-edge/source',
        '--import',
        'tsx',
        bin,
        'emulate-stm32',
        '--pty',
        '--count',
        '2',
        '--mcu-id',
        'cli',
        '--timing',
        'instant',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    try {
      const paths = await new Promise<string[]>((resolve, reject) => {
        let out = ''
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString('utf8')
          const found = [...out.matchAll(/^stm32h743 emulator (cli-\d) on (\S+)$/gm)].map((m) => m[2]!)
          if (found.length === 2) resolve(found)
        })
        child.once('exit', (code) => {
          reject(new Error(`emulate-stm32 exited with ${code ?? 'a signal'}: ${out}`))
        })
      })
      const driver = await createStm32Driver({ path: paths[1]!, baudRate: 115200 })
      expect(driver.info?.mcuId).toBe('cli-1')
      await driver.close()
    } finally {
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      expect((await exited)[0]).toBe(0)
    }
  }, 30_000)
})

describe('gateway and emulator configuration', () => {
  it('reads ports with device ids from flags and env, and refuses a gateway with no port', () => {
    const env = { LLN_GATEWAY_ID: 'gw-1', LLN_PUBLISHER_KEYS: 'a.pem,b.pem', LLN_BAUD_RATE: '921600' }
    const c = gatewayConfig.load({ env, flags: { port: ['/dev/ttyACM0=mcu-a', '/dev/ttyACM1'] } })
    expect(c.ports).toEqual([{ path: '/dev/ttyACM0', deviceId: 'mcu-a' }, { path: '/dev/ttyACM1' }])
    expect(c.baudRate).toBe(921600)
    expect(c.publisherKeys).toEqual(['a.pem', 'b.pem'])
    let err: unknown
    try {
      gatewayConfig.load({ env })
    } catch (e) {
      err = e
    }
    expect(isFleetError(err, 'CONFIG_INVALID') && err.message).toContain('at least one serial port')
  })
})
