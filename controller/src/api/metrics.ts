import type { Redis } from 'ioredis'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { Keys } from '../keys.js'

/** The controller's Prometheus metrics, in their own registry. */
export class Metrics {
  readonly registry = new Registry()
  constructor() {
    // The process's own figures (resident memory, heap, event-loop lag, GC): what a soak watches.
    collectDefaultMetrics({ register: this.registry })
  }
  readonly desiredWrites = new Counter({ name: 'lln_desired_writes_total', help: 'Desired states published', registers: [this.registry] })
  readonly desiredRepublished = new Counter({
    name: 'lln_desired_republished_total',
    help: 'Desired states and rollout commands sent again by the reconciler, by what triggered it (start, reconnect, online, sweep) and kind',
    labelNames: ['trigger', 'kind'],
    registers: [this.registry],
  })
  readonly invalidMessages = new Counter({
    name: 'lln_invalid_messages_total',
    help: 'Inbound MQTT messages refused',
    labelNames: ['code'],
    registers: [this.registry],
  })
  readonly statusStale = new Counter({
    name: 'lln_device_status_stale_total',
    help: 'Status messages dropped as stale: a lower session than the last one seen, or online after the offline of the same session',
    registers: [this.registry],
  })
  readonly statusHeld = new Counter({
    name: 'lln_device_status_held_total',
    help: 'Statuses with a lower session than the last one seen, held (not applied) until a report of the device, stamped no earlier, confirms them',
    registers: [this.registry],
  })
  readonly sessionRegressions = new Counter({
    name: 'lln_device_session_regressions_total',
    help: 'Online statuses accepted with a lower session than the last one seen, confirmed by a report of the device: a device that lost its session counter (contract: it must persist)',
    registers: [this.registry],
  })
  readonly apiRefused = new Counter({
    name: 'lln_api_refused_total',
    help: 'HTTP requests refused before their handler ran (unauthorized, forbidden, rate limited, body too large, timeout), by error code',
    labelNames: ['code'],
    registers: [this.registry],
  })
  readonly apiLatency = new Histogram({
    name: 'lln_api_request_duration_seconds',
    help: 'HTTP API latency',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  })

  /** Gauges computed from Redis at scrape time. */
  attach(o: { redis: Redis; keys: Keys }): void {
    const { redis, keys } = o
    new Gauge({
      name: 'lln_rollouts',
      help: 'Rollouts by state (last 1000)',
      labelNames: ['state'],
      registers: [this.registry],
      async collect() {
        this.reset()
        const ids = await redis.zrevrange(keys.rollouts, 0, 999)
        const raws = ids.length === 0 ? [] : await redis.mget(...ids.map((id) => keys.rollout(id)))
        for (const raw of raws) if (raw !== null) this.inc({ state: (JSON.parse(raw) as { state: string }).state })
      },
    })
    new Gauge({
      name: 'lln_devices',
      help: 'Devices by reported phase and active model version',
      labelNames: ['phase', 'version'],
      registers: [this.registry],
      async collect() {
        this.reset()
        for (const raw of await redis.hvals(keys.reported)) {
          const r = JSON.parse(raw) as { phase: string; slots: { role: string; model: { version: string } }[] }
          const active = r.slots.find((s) => s.role === 'active' || s.role === 'trial')
          this.inc({ phase: r.phase, version: active?.model.version ?? 'none' })
        }
      },
    })
  }
}
