/** Test rig: an emulated STM32 on a mock serial port, and a driver connected to it. */
import { randomUUID } from 'node:crypto'
import {
  Stm32Emulator,
  attachEmulator,
  createStm32Driver,
  openMockPort,
  type EmulatedPort,
  type LineOptions,
  type Stm32Driver,
  type Stm32EmulatorOptions,
} from '../../src/stm32/index.js'

export interface Rig extends AsyncDisposable {
  driver: Stm32Driver
  emulator: Stm32Emulator
  port: EmulatedPort
}

export function emulatedPort(options: { line?: LineOptions; emulator?: Partial<Stm32EmulatorOptions> } = {}): EmulatedPort {
  const path = `/dev/ttyEMU-${randomUUID().slice(0, 8)}`
  const emulator = new Stm32Emulator({ mcuId: `mcu-${randomUUID().slice(0, 8)}`, ...options.emulator })
  return attachEmulator(path, emulator, options.line)
}

export async function emulatedRig(
  options: { line?: LineOptions; emulator?: Partial<Stm32EmulatorOptions>; baudRate?: number; maxAttempts?: number } = {},
): Promise<Rig> {
  const port = emulatedPort(options)
  const driver = await createStm32Driver({
    path: port.path,
    openPort: openMockPort,
    baudRate: options.baudRate ?? 921600,
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
  })
  return {
    driver,
    emulator: port.emulator,
    port,
    async [Symbol.asyncDispose]() {
      await driver.close()
      port.close()
    },
  }
}
