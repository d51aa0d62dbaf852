import { openPty, type Pty } from '../pty/pty.js'
import { EmulatedLine, type LineOptions } from './line.js'
import type { Stm32Emulator } from './stm32-emulator.js'

export interface PtyEmulator {
  readonly path: string
  readonly pty: Pty
  close(): Promise<void>
}

/** Serve `emulator` on a new pseudo-terminal (optionally paced / faulty, optionally symlinked). */
export async function exposeOnPty(emulator: Stm32Emulator, options: { link?: string; line?: LineOptions } = {}): Promise<PtyEmulator> {
  const pty = await openPty(options.link === undefined ? {} : { link: options.link })
  const toHost = new EmulatedLine((data) => pty.process.stdin?.write(data), options.line)
  const toMcu = new EmulatedLine(
    (data) => {
      emulator.receive(data)
    },
    { ...options.line, seed: (options.line?.seed ?? 1) + 7919 },
  )
  const onTransmit = (data: Buffer): void => {
    toHost.send(data)
  }
  emulator.on('transmit', onTransmit)
  pty.process.stdout?.on('data', (d: Buffer) => {
    toMcu.send(d)
  })
  return {
    path: pty.path,
    pty,
    async close() {
      emulator.off('transmit', onTransmit)
      toHost.close()
      toMcu.close()
      await pty.close()
    },
  }
}
