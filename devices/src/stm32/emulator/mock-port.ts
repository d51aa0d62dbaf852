/**
 * Connects emulated MCUs to serialport's mock binding, so a driver opening `SerialPortMock` on a
 * path talks to the emulator there through two {@link EmulatedLine}s (host→MCU, MCU→host).
 * Uses `SerialPortMock.binding`, the CJS singleton serialport itself uses (TECH-NOTES §5).
 */
import { SerialPortMock } from 'serialport'
import { EmulatedLine, type LineOptions } from './line.js'
import type { Stm32Emulator } from './stm32-emulator.js'

interface MockPortBinding {
  isOpen: boolean
  emitData(data: Buffer): void
  write(buffer: Buffer): Promise<void>
}

export interface EmulatedPort {
  readonly path: string
  readonly emulator: Stm32Emulator
  /** Host → MCU direction (faults here hit requests). */
  readonly toMcu: EmulatedLine
  /** MCU → host direction (faults here hit responses). */
  readonly toHost: EmulatedLine
  /** Cut the cable: both directions lose everything until {@link plug}. */
  unplug(): void
  plug(): void
  close(): void
}

const attached = new Map<string, (binding: MockPortBinding) => void>()

/**
 * Create the mock port `path` and wire `emulator` to it. `line` sets pacing and faults of both
 * directions (each direction gets its own PRNG stream).
 */
export function attachEmulator(path: string, emulator: Stm32Emulator, line: LineOptions = {}): EmulatedPort {
  SerialPortMock.binding.createPort(path, {
    echo: false,
    record: false,
    manufacturer: 'STMicroelectronics',
    vendorId: '0483',
    productId: '5740',
  })
  let current: MockPortBinding | undefined
  const toHost = new EmulatedLine((data) => {
    if (current?.isOpen === true) current.emitData(data)
  }, line)
  const toMcu = new EmulatedLine(
    (data) => {
      emulator.receive(data)
    },
    { ...line, seed: (line.seed ?? 1) + 7919 },
  )
  const onTransmit = (data: Buffer): void => {
    toHost.send(data)
  }
  emulator.on('transmit', onTransmit)
  attached.set(path, (binding) => {
    current = binding
    const write = binding.write.bind(binding)
    binding.write = async (buffer: Buffer) => {
      await write(buffer)
      toMcu.send(buffer)
    }
  })
  return {
    path,
    emulator,
    toMcu,
    toHost,
    unplug() {
      toMcu.unplugged = true
      toHost.unplugged = true
    },
    plug() {
      toMcu.unplugged = false
      toHost.unplugged = false
    },
    close() {
      attached.delete(path)
      emulator.off('transmit', onTransmit)
      toHost.close()
      toMcu.close()
    },
  }
}

/** Open `path` on the mock binding (not yet opened: call `open()`); wired to its emulator if one is attached. */
export function openMockPort(path: string, baudRate: number): SerialPortMock {
  const port = new SerialPortMock({ path, baudRate, autoOpen: false })
  port.on('open', () => {
    const hook = attached.get(path)
    if (hook !== undefined) hook(port.port as unknown as MockPortBinding)
  })
  return port
}
