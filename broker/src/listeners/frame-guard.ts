import type { Duplex } from 'node:stream'
import { CONNACK_UNACCEPTABLE_PROTOCOL, connectVerdict } from './connect-gate.js'

/**
 * Reads the MQTT fixed header of each packet as bytes arrive (type byte + remaining-length
 * varint) and skips the body without copying. A packet announcing more than `maxBytes` is caught
 * at its header, before aedes buffers it: MQTT 3.1.1 has no way to refuse one packet, so the
 * connection is closed.
 */
export class FrameGuard {
  readonly maxBytes: number
  #skip = 0
  #inLength = false
  #length = 0
  #multiplier = 1
  #lengthBytes = 0

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes
  }

  /** Feed the next chunk; false as soon as an oversize (or malformed) packet header is seen. */
  inspect(chunk: Uint8Array): boolean {
    let i = 0
    while (i < chunk.length) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i)
        this.#skip -= n
        i += n
        continue
      }
      const byte = chunk[i++] ?? 0
      if (!this.#inLength) {
        this.#inLength = true
        this.#length = 0
        this.#multiplier = 1
        this.#lengthBytes = 0
        continue
      }
      this.#length += (byte & 0x7f) * this.#multiplier
      this.#multiplier *= 128
      this.#lengthBytes++
      if ((byte & 0x80) === 0) {
        if (this.#length + 1 + this.#lengthBytes > this.maxBytes) return false
        this.#skip = this.#length
        this.#inLength = false
      } else if (this.#lengthBytes >= 4) {
        return false
      }
    }
    return true
  }
}

export interface GuardHooks {
  /** A packet over the maximum size closed the connection. */
  onTooLarge: () => void
  /** A CONNECT with an unsupported protocol level got CONNACK 0x01 and was closed. */
  onUnsupportedLevel: (level: number) => void
}

/**
 * Put the connection's first packet through {@link connectVerdict} and a {@link FrameGuard} in front
 * of `conn`'s reads (aedes consumes a connection with `read()`). Until the CONNECT's protocol level is
 * known, bytes are held back from aedes; a `null` read makes it wait for the next `readable`.
 */
export function guardConnection(conn: Duplex, maxBytes: number, hooks: GuardHooks): void {
  const guard = new FrameGuard(maxBytes)
  const read = conn.read.bind(conn)
  let head: Buffer | null = Buffer.alloc(0)
  conn.read = (size?: number): unknown => {
    let chunk: unknown = read(size)
    if (head !== null && chunk instanceof Uint8Array) {
      const start: Buffer = Buffer.concat([head, chunk])
      const verdict = connectVerdict(start)
      if (verdict.kind === 'need-more') {
        head = start
        return null
      }
      head = null
      if (verdict.kind === 'refuse') {
        hooks.onUnsupportedLevel(verdict.level)
        conn.end(CONNACK_UNACCEPTABLE_PROTOCOL, () => conn.destroy())
        return null
      }
      chunk = start
    }
    if (chunk instanceof Uint8Array && !guard.inspect(chunk)) {
      hooks.onTooLarge()
      conn.destroy()
      return null
    }
    return chunk
  }
}
