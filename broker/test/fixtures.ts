import { deviceMessage, encode } from '@liquid-edge/protocol'

/** A valid telemetry window of `deviceId` (JSON bytes). */
export function telemetry(deviceId: string, seq = 0, id?: string): Buffer {
  const body = {
    seq,
    windowStart: Date.now() - 1000,
    windowMs: 1000,
    model: { name: 'cfc', version: '1.0.0' },
    inferences: 10,
    errors: 0,
    latencyMs: { p50: 1, p95: 2, p99: 3, max: 4 },
    energy: null,
    temperatureC: 40,
    memory: null,
  }
  return Buffer.from(encode(deviceMessage('telemetry', deviceId, body, id === undefined ? {} : { id })))
}

/** A valid desired state for `deviceId` (JSON bytes). */
export function desired(deviceId: string, generation = 1): Buffer {
  const body = {
    generation,
    rolloutId: null,
    model: {
      name: 'cfc',
      version: `1.0.${generation}`,
      sha256: 'a'.repeat(64),
      size: 1024,
      url: 'http://127.0.0.1:1/models/cfc',
      signature: `${'A'.repeat(86)}==`,
    },
    policy: { latencyThresholdMs: 10 },
  }
  return Buffer.from(encode(deviceMessage('desired', deviceId, body)))
}

/** A valid status message. */
export function status(deviceId: string, online: boolean, session = 1): Buffer {
  return Buffer.from(encode(deviceMessage('status', deviceId, { online, session })))
}

/** A unique device id for one test. */
export function uid(label = 'dev'): string {
  return `${label}-${crypto.randomUUID().slice(0, 8)}`
}

/** Resolves when `client` emits `close` (the broker ended the connection). */
export function closedEvent(client: { once(event: 'close', listener: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => {
    client.once('close', () => {
      resolve()
    })
  })
}

/** A valid reported state of `deviceId` at `generation`. */
export function reported(deviceId: string, generation: number): Buffer {
  const body = { generation, rolloutId: null, phase: 'active' as const, slots: [], agentVersion: '1.0.0', hardware: 'x86-edge' }
  return Buffer.from(encode(deviceMessage('reported', deviceId, body)))
}
