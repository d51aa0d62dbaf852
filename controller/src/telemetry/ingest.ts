import type { Logger } from 'pino'
import type { Decoded, DeviceEventBody, StatusBody, TelemetryBody } from '@liquid-edge/protocol'
import type { Clock } from '../clock.js'
import type { LiveTelemetry } from '../registry/live.js'
import { cohortOf, type FoldItem, type WindowStore } from './window-store.js'

/** Device events that count as a crash for the rules. */
export const CRASH_EVENTS: ReadonlySet<string> = new Set(['crashed', 'watchdog-reset', 'model-load-failed'])

export interface IngestOptions {
  store: WindowStore
  clock: Clock
  logger: Logger
  /** Flush at least this often. @defaultValue 100 */
  flushMs?: number
  /** Flush as soon as this many messages wait. @defaultValue 2000 */
  maxBatch?: number
  /** Store each device's last window of a batch in the live view (one write per batch). */
  live?: (latest: ReadonlyMap<string, LiveTelemetry>) => Promise<void>
}

/** Counters of the ingest path (exported to Prometheus). */
export interface IngestCounters {
  received: number
  folded: number
  invalid: number
  duplicates: number
  /** Telemetry left to the replica that holds the ingest duty (MQTT: every replica receives every message). */
  standby: number
  gaps: number
  crashes: number
  batches: number
  failedBatches: number
}

/**
 * Folds telemetry into Redis windows in batches: messages wait in memory for at most `flushMs`
 * (or until `maxBatch` are waiting) and a batch is one Redis round trip for the windows and one
 * write of the live view, where each device's last window of the batch wins. Never one BullMQ job
 * or one Redis command per message. `add` never throws; a failed batch is logged and counted, and
 * the loop goes on.
 */
export class TelemetryIngest {
  readonly counters: IngestCounters = {
    received: 0,
    folded: 0,
    invalid: 0,
    duplicates: 0,
    standby: 0,
    gaps: 0,
    crashes: 0,
    batches: 0,
    failedBatches: 0,
  }
  private buffer: FoldItem[] = []
  private latest = new Map<string, LiveTelemetry>()
  private timer: NodeJS.Timeout | null = null
  private flushing: Promise<void> = Promise.resolve()
  private closed = false
  private readonly flushMs: number
  private readonly maxBatch: number

  constructor(private readonly o: IngestOptions) {
    this.flushMs = o.flushMs ?? 100
    this.maxBatch = o.maxBatch ?? 2000
  }

  /** Take a decoded device message (telemetry and events; other kinds are ignored). */
  onMessage(m: Decoded): void {
    if (this.closed) return
    const msg = m.message
    if (msg.type === 'telemetry') this.addTelemetry(msg.deviceId, msg.body, msg.ts)
    else if (msg.type === 'event') this.addEvent(msg.deviceId, msg.body)
    else if (msg.type === 'status') this.addStatus(msg.deviceId, msg.body)
  }

  /**
   * Record when an offline status (often a Last Will, whose envelope time is the connect time)
   * was received; an online status clears it.
   */
  addStatus(deviceId: string, body: StatusBody): void {
    this.o.store.recordStatus(deviceId, body.online, this.o.clock.now()).catch((err: unknown) => {
      this.o.logger.warn({ err, deviceId }, 'status not recorded')
    })
  }

  /** One window of `deviceId`; `ts` is its envelope time (default: now). */
  addTelemetry(deviceId: string, body: TelemetryBody, ts?: number): void {
    this.counters.received++
    const at = this.o.clock.now()
    this.buffer.push({ deviceId, at, body })
    const temperatureC = body.temperatureC ?? body.temperature?.maxC ?? null
    this.latest.set(deviceId, {
      ts: ts ?? at,
      windowMs: body.windowMs,
      receivedAt: at,
      model: body.model === null ? null : cohortOf(body.model),
      temperatureC,
      memoryUsedBytes: body.memory?.usedBytes ?? null,
      memoryTotalBytes: body.memory?.totalBytes ?? null,
    })
    if (this.buffer.length >= this.maxBatch) this.flushSoon(true)
    else this.flushSoon(false)
  }

  addEvent(deviceId: string, body: DeviceEventBody): void {
    if (!CRASH_EVENTS.has(body.event)) return
    this.counters.crashes++
    const model = body.model === undefined ? null : `${body.model.name}@${body.model.version}`
    this.o.store.recordCrash(deviceId, this.o.clock.now(), body.event, model).catch((err: unknown) => {
      this.o.logger.warn({ err, deviceId }, 'crash event not recorded')
    })
  }

  countInvalid(): void {
    this.counters.invalid++
  }

  private flushSoon(now: boolean): void {
    if (now) {
      if (this.timer !== null) clearTimeout(this.timer)
      this.timer = null
      void this.flush()
      return
    }
    this.timer ??= setTimeout(() => {
      this.timer = null
      void this.flush()
    }, this.flushMs)
  }

  /** Write what waits (batches are serialized; resolves when this one is stored). */
  flush(): Promise<void> {
    const batch = this.buffer
    const latest = this.latest
    this.buffer = []
    this.latest = new Map()
    this.flushing = this.flushing.then(async () => {
      if (batch.length === 0) return
      try {
        const [gaps] = await Promise.all([this.o.store.fold(batch), this.o.live?.(latest)])
        this.counters.gaps += gaps
        this.counters.folded += batch.length
        this.counters.batches++
      } catch (err) {
        this.counters.failedBatches++
        this.o.logger.warn({ err, size: batch.length }, 'telemetry batch not stored')
      }
    })
    return this.flushing
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    await this.flush()
  }
}
