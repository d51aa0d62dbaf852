import { DelimiterParser, SerialPort, type SerialPortMock } from 'serialport'
import { FleetError } from '@liquid-edge/protocol'

/** Creates a not-yet-opened port (`autoOpen: false`). */
export type PortOpener = (path: string, baudRate: number) => SerialPort | SerialPortMock

export const openRealPort: PortOpener = (path, baudRate) => new SerialPort({ path, baudRate, autoOpen: false })

export interface SerialConnection {
  write(data: Buffer): void
  close(): Promise<void>
}

/** Open a port and split what it receives into 0x00-delimited blocks with `@serialport/parser-delimiter`. */
export async function openSerial(
  path: string,
  baudRate: number,
  opener: PortOpener = openRealPort,
  onBlock: (block: Buffer) => void,
): Promise<SerialConnection> {
  const port = opener(path, baudRate)
  await new Promise<void>((resolve, reject) => {
    port.open((err) => {
      if (err) reject(new FleetError('DEVICE_LINK_ERROR', `cannot open ${path}: ${err.message}`, { cause: err }))
      else resolve()
    })
  })
  const parser = port.pipe(new DelimiterParser({ delimiter: Buffer.from([0]), includeDelimiter: false }))
  parser.on('data', (block: Buffer) => {
    onBlock(block)
  })
  port.on('error', () => undefined)
  let closing: Promise<void> | undefined
  return {
    write(data) {
      port.write(data)
    },
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        if (!port.isOpen) {
          resolve()
          return
        }
        port.close(() => {
          resolve()
        })
      })),
  }
}
