import { deviceMessage, fleetMessage, type MessageInputOf, type MessageType } from '@liquid-edge/protocol'

export const DEVICE = 'edge-0001'
export const SHA = 'a'.repeat(64)
export const SIGNATURE = `${'A'.repeat(86)}==`
const model = { name: 'cfc-small', version: '1.2.0' }

/** One valid message of every type, as a sender would build it. */
export const SAMPLES: { [T in MessageType]: MessageInputOf<T> & { type: T } } = {
  desired: deviceMessage('desired', DEVICE, {
    generation: 7,
    rolloutId: 'r-1',
    model: { ...model, sha256: SHA, size: 2048, url: 'http://127.0.0.1:8080/artifacts/aaa', signature: SIGNATURE },
    policy: { latencyThresholdMs: 5, energyBudgetMw: 300 },
  }),
  command: deviceMessage('command', DEVICE, { kind: 'profile', metric: 'latency', samples: 1000, expiresAt: 2_000_000_000_000 }),
  reply: deviceMessage('reply', DEVICE, {
    commandId: 'c-1',
    ok: true,
    result: {
      kind: 'profile',
      metric: 'latency',
      unit: 'ms',
      modelVersion: '1.2.0',
      quantiles: { samples: 1000, mean: 1, p50: 1, p95: 2, p99: 3, max: 9 },
    },
  }),
  reported: deviceMessage('reported', DEVICE, {
    generation: 7,
    rolloutId: 'r-1',
    phase: 'trial',
    slots: [
      { slot: 'a', model: { ...model, sha256: SHA }, role: 'trial' },
      { slot: 'b', model: { name: 'cfc-small', version: '1.1.0', sha256: 'b'.repeat(64) }, role: 'previous' },
    ],
    agentVersion: '0.1.0',
    hardware: 'stm32h743',
  }),
  status: deviceMessage('status', DEVICE, { online: true, session: 3 }),
  telemetry: deviceMessage('telemetry', DEVICE, {
    seq: 42,
    windowStart: 1_700_000_000_000,
    windowMs: 1000,
    model,
    inferences: 120,
    errors: 1,
    latency: { count: 3, sumMs: 4.8, minMs: 0.4, maxMs: 3.5, histogram: { bins: [300, 341, 409], counts: [1, 1, 1] } },
    latencyMs: { p50: 0.9, p95: 3.5, p99: 3.5, max: 3.5 },
    energy: { avgMw: 210.5, perInferenceMj: 1.75, joules: 0.2105, measuredMs: 1000, source: 'meter' },
    temperatureC: 51.5,
    temperature: { maxC: 51.5, meanC: 51.5, samples: 1 },
    memory: { usedBytes: 10_000_000, totalBytes: null },
    agreement: { compared: 12, agreed: 11 },
    hardware: 'stm32h743',
  }),
  event: deviceMessage('event', DEVICE, {
    event: 'local-revert',
    model,
    error: { code: 'AGENT_TRIAL_LATENCY', message: 'p95 latency 9 ms over 7.5 ms', retryable: false },
    details: { observedMs: 9, thresholdMs: 7.5 },
  }),
  'fleet-event': fleetMessage({
    event: 'decision',
    rolloutId: 'r-1',
    action: 'rollback-rollout',
    severity: 'critical',
    message: 'latency above threshold + 50%',
    evidence: {
      rule: 'latency-rollback',
      metric: 'latency.avg',
      comparison: 'budget',
      windowMs: 120_000,
      windowStart: 1_700_000_000_000,
      sampleSize: 4000,
      observed: 9.1,
      threshold: 7.5,
      baseline: 4.2,
      devices: [DEVICE],
    },
  }),
}

/** The topic kind each sample travels on. */
export const TOPIC_OF: Record<MessageType, string> = {
  desired: `lln/v1/devices/${DEVICE}/desired`,
  command: `lln/v1/devices/${DEVICE}/cmd`,
  reply: `lln/v1/devices/${DEVICE}/reply`,
  reported: `lln/v1/devices/${DEVICE}/reported`,
  status: `lln/v1/devices/${DEVICE}/status`,
  telemetry: `lln/v1/devices/${DEVICE}/telemetry`,
  event: `lln/v1/devices/${DEVICE}/events`,
  'fleet-event': 'lln/v1/fleet/events',
}

/** A sample as a plain JSON object, for tests that break it on purpose. */
export function sampleJson(type: MessageType): Record<string, unknown> {
  return JSON.parse(JSON.stringify(SAMPLES[type])) as Record<string, unknown>
}
