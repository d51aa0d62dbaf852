/**
 * The protocol levels the broker speaks: 3 (MQTT 3.1, name `MQIsdp`) and 4 (MQTT 3.1.1, name `MQTT`).
 * aedes answers level 5 itself, but its packet parser drops any other level with no CONNACK at all.
 */
const SUPPORTED_LEVELS: ReadonlySet<number> = new Set([3, 4])
const CONNECT = 0x10
/** CONNACK with return code 0x01, unacceptable protocol version, in the 3.1.1 format. */
export const CONNACK_UNACCEPTABLE_PROTOCOL = Uint8Array.from([0x20, 0x02, 0x00, 0x01])

/** What the first bytes of a connection say about its CONNECT. */
export type ConnectVerdict = { kind: 'pass' } | { kind: 'need-more' } | { kind: 'refuse'; level: number }

/**
 * Look at the start of a connection. A CONNECT naming MQTT (or MQIsdp) with a level the broker does
 * not speak is refused here with CONNACK 0x01 [MQTT-3.1.2-2]. Anything else — a supported level, a
 * wrong protocol name [MQTT-3.1.2-1], not a CONNECT — goes on to aedes, which handles it.
 */
export function connectVerdict(bytes: Uint8Array): ConnectVerdict {
  if (bytes.length === 0) return { kind: 'need-more' }
  if ((bytes[0] ?? 0) >> 4 !== CONNECT >> 4) return { kind: 'pass' }
  let i = 1
  // The remaining length: 1-4 bytes, 7 bits each.
  for (;;) {
    if (i >= bytes.length) return { kind: 'need-more' }
    const b = bytes[i++] ?? 0
    if ((b & 0x80) === 0) break
    if (i > 4) return { kind: 'pass' }
  }
  if (i + 2 > bytes.length) return { kind: 'need-more' }
  const nameLength = ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)
  if (nameLength !== 4 && nameLength !== 6) return { kind: 'pass' }
  const levelAt = i + 2 + nameLength
  if (levelAt >= bytes.length) return { kind: 'need-more' }
  const name = String.fromCharCode(...bytes.subarray(i + 2, levelAt))
  if (name !== 'MQTT' && name !== 'MQIsdp') return { kind: 'pass' }
  const level = bytes[levelAt] ?? 0
  return SUPPORTED_LEVELS.has(level) ? { kind: 'pass' } : { kind: 'refuse', level }
}
