import { connect } from 'node:net'
import { waitFor } from '@liquid-edge/test/harness'

/** MQTT remaining length (1-4 bytes, 7 bits each). */
function remainingLength(n: number): Buffer {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return Buffer.from(out)
}

function str(s: string): Buffer {
  const b = Buffer.from(s, 'utf8')
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}

function packet(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type]), remainingLength(body.length), body])
}

/** A CONNECT packet with any protocol level (the point: levels a client library refuses to send). */
export function connectPacket(level: number, clientId: string, options: { name?: string; username?: string } = {}): Buffer {
  const name = options.name ?? (level === 3 ? 'MQIsdp' : 'MQTT')
  const flags = 0x02 | (options.username === undefined ? 0 : 0x80)
  const properties = level === 5 ? Buffer.from([0]) : Buffer.alloc(0)
  const payload = Buffer.concat([str(clientId), ...(options.username === undefined ? [] : [str(options.username)])])
  return packet(0x10, Buffer.concat([str(name), Buffer.from([level, flags, 0, 30]), properties, payload]))
}

/** A QoS 0 PUBLISH; the topic is written as given, wildcards included. */
export function publishPacket(topic: string, payload: string): Buffer {
  return packet(0x30, Buffer.concat([str(topic), Buffer.from(payload)]))
}

export interface RawExchange {
  /** Every byte the broker sent. */
  received: Buffer
  /** True when the broker closed the connection. */
  closed: boolean
}

/**
 * Open a TCP connection, send `chunks` one write at a time (waiting for the previous to be
 * flushed), then wait until the broker closes the connection or `until` holds for what it sent.
 */
export async function rawExchange(
  port: number,
  chunks: readonly Buffer[],
  until: (received: Buffer) => boolean = () => false,
): Promise<RawExchange> {
  const socket = connect(port, '127.0.0.1')
  const parts: Buffer[] = []
  let closed = false
  socket.on('data', (d: Buffer) => parts.push(d))
  socket.on('close', () => (closed = true))
  socket.on('error', () => undefined)
  await new Promise<void>((resolve) => socket.once('connect', resolve))
  for (const chunk of chunks)
    await new Promise<void>((resolve) =>
      socket.write(chunk, () => {
        resolve()
      }),
    )
  try {
    await waitFor(() => closed || until(Buffer.concat(parts)), { timeoutMs: 5000, what: 'the broker to answer or close' })
  } finally {
    socket.destroy()
  }
  return { received: Buffer.concat(parts), closed }
}

/** The same bytes, one write per byte: a CONNECT split at every possible point. */
export function byteByByte(bytes: Buffer): Buffer[] {
  return [...bytes].map((b) => Buffer.from([b]))
}
