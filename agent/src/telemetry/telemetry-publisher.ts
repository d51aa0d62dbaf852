import { TelemetryBodySchema, type TelemetryBody } from '@liquid-edge/protocol'
import type { OfflineBuffer } from './offline-buffer.js'

/** Sends windows live when connected; otherwise buffers them and drains the buffer, in order, on reconnect. */
export class TelemetryPublisher {
  private draining: Promise<void> | null = null
  /** Windows refused before sending because they break the contract (never buffered: one would block the drain forever). */
  refused = 0

  constructor(
    private readonly buffer: OfflineBuffer,
    /** Publish one window; QoS 1 for buffered ones (their loss would be a gap). */
    private readonly publish: (body: TelemetryBody, qos: 0 | 1) => Promise<void>,
    private readonly isConnected: () => boolean,
    private readonly onError: (err: unknown) => void,
  ) {}

  get buffered(): number {
    return this.buffer.size
  }

  /** Take the drop count to report with the next sent window. */
  private stampDropped(body: TelemetryBody): TelemetryBody {
    if (this.buffer.dropped === 0) return body
    const stamped = { ...body, dropped: body.dropped + this.buffer.dropped }
    this.buffer.dropped = 0
    return stamped
  }

  async send(body: TelemetryBody): Promise<void> {
    const checked = TelemetryBodySchema.safeParse(body)
    if (!checked.success) {
      this.refused++
      this.onError(
        new Error(
          `telemetry window ${body.seq} refused, not sent: ${checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        ),
      )
      return
    }
    if (this.isConnected() && this.buffer.size === 0 && this.draining === null) {
      const stamped = this.stampDropped(body)
      try {
        await this.publish(stamped, 0)
        return
      } catch {
        this.buffer.dropped += stamped.dropped - body.dropped
      }
    }
    await this.buffer.push(body)
    if (this.isConnected()) this.drain()
  }

  /** Send everything buffered, oldest first, in batches acknowledged by the broker. */
  drain(): void {
    if (this.draining !== null || this.buffer.size === 0) return
    const run = async (): Promise<void> => {
      await Promise.resolve()
      while (this.buffer.size > 0 && this.isConnected()) {
        const batch = this.buffer.peek(32)
        const first = batch[0]
        if (first !== undefined) batch[0] = this.stampDropped(first)
        await Promise.all(batch.map((b) => this.publish(b, 1)))
        await this.buffer.shift(batch.length)
      }
    }
    const draining = run()
      .catch((err: unknown) => {
        this.onError(err)
      })
      .finally(() => {
        if (this.draining === draining) this.draining = null
      })
    this.draining = draining
  }

  async settled(): Promise<void> {
    await this.draining
    await this.buffer.flushed()
  }
}
