import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { PHASES, type Phase } from '@liquid-edge/protocol'

/** The agent's Prometheus metrics, in their own registry (never the global one: many agents may share a process). */
export class AgentMetrics {
  readonly registry = new Registry()
  readonly inferences = new Counter({
    name: 'lln_agent_inferences_total',
    help: 'Inferences served, by result',
    labelNames: ['result'],
    registers: [this.registry],
  })
  readonly latency = new Histogram({
    name: 'lln_agent_inference_latency_seconds',
    help: 'Inference latency as the driver measured it',
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  })
  readonly refused = new Counter({
    name: 'lln_agent_refused_total',
    help: 'Invalid inputs refused (HTTP 400, undecodable MQTT messages), by reason code',
    labelNames: ['code'],
    registers: [this.registry],
  })
  readonly phase = new Gauge({
    name: 'lln_agent_phase',
    help: 'Update phase (1 for the current one)',
    labelNames: ['phase'],
    registers: [this.registry],
  })
  readonly connected = new Gauge({ name: 'lln_agent_connected', help: '1 while the MQTT session is up', registers: [this.registry] })
  readonly buffered = new Gauge({
    name: 'lln_agent_telemetry_buffered',
    help: 'Telemetry windows waiting in the offline buffer',
    registers: [this.registry],
  })
  readonly reverts = new Counter({ name: 'lln_agent_local_reverts_total', help: 'Trials reverted locally', registers: [this.registry] })

  /** Pre-bound children: label lookups are the costly part of an increment on the hot path. */
  readonly inferenceOk = this.inferences.labels('ok')
  readonly inferenceError = this.inferences.labels('error')

  setPhase(current: Phase): void {
    for (const p of PHASES) this.phase.set({ phase: p }, p === current ? 1 : 0)
  }
}
