import { describe, expect, it } from 'vitest'
import type { TelemetryBody } from '@liquid-edge/protocol'
import { OfflineBuffer } from '../src/telemetry/offline-buffer.js'
import { TelemetryPublisher } from '../src/telemetry/telemetry-publisher.js'

function window(seq: number, windowMs: number): TelemetryBody {
  return {
    seq,
    windowStart: 1_700_000_000_000 + seq * 1000,
    windowMs,
    model: null,
    inferences: 0,
    errors: 0,
    energy: null,
    temperatureC: null,
    memory: null,
    dropped: 0,
  }
}

describe('telemetry publisher', () => {
  it('refuses a window the contract refuses and keeps sending the ones after it', async () => {
    let connected = false
    const sent: number[] = []
    const errors: string[] = []
    const publisher = new TelemetryPublisher(
      await OfflineBuffer.open(null, 100),
      (body) => {
        sent.push(body.seq)
        return Promise.resolve()
      },
      () => connected,
      (err) => errors.push(String(err)),
    )
    // Offline: windows are buffered; the 3 ms one breaks the contract's 10 ms floor.
    await publisher.send(window(1, 1000))
    await publisher.send(window(2, 3))
    await publisher.send(window(3, 1000))
    expect(publisher.buffered).toBe(2)
    expect(publisher.refused).toBe(1)
    expect(errors.join('\n')).toMatch(/telemetry window 2 refused, not sent: windowMs/)
    connected = true
    publisher.drain()
    await publisher.settled()
    await publisher.send(window(4, 1000))
    expect(sent).toEqual([1, 3, 4])
    expect(publisher.buffered).toBe(0)
  })
})
