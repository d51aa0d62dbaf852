/**
 * Telemetry decode + validate (the controller's hot path) beside bare JSON.parse of the same
 * bytes, in the same run. Goal: decode at ≥ 0.8× the throughput of bare JSON.parse.
 */
import { decode, deviceMessage, encode } from '@liquid-edge/protocol'

const POOL = 1024
const ROUNDS = 7
const PER_ROUND = 200_000

const topics: string[] = []
const payloads: Uint8Array[] = []
for (let i = 0; i < POOL; i++) {
  const id = `edge-${String(i).padStart(5, '0')}`
  topics.push(`lln/v1/devices/${id}/telemetry`)
  payloads.push(
    encode(
      deviceMessage('telemetry', id, {
        seq: i,
        windowStart: 1_700_000_000_000 + i * 1000,
        windowMs: 1000,
        model: { name: 'cfc-small', version: '2.0.0' },
        inferences: 100 + (i % 50),
        errors: i % 7,
        latencyMs: { p50: 0.4 + i / 1e4, p95: 0.9, p99: 1.3, max: 4.1 },
        energy: { avgMw: 210.5, perInferenceMj: 1.9 },
        temperatureC: 48 + (i % 10),
        memory: { usedBytes: 48_000_000 + i, totalBytes: 512_000_000 },
      }),
    ),
  )
}
const bytes = payloads[0]?.byteLength ?? 0
const textDecoder = new TextDecoder()

type Case = { name: string; fn: (i: number) => unknown; rates: number[] }

/** Rounds are interleaved across cases so that noise from other processes hits every case alike. */
function measure(cases: Case[]): void {
  for (let r = -1; r < ROUNDS; r++) {
    for (const c of cases) {
      let sink = 0
      const start = process.hrtime.bigint()
      for (let i = 0; i < PER_ROUND; i++) if (c.fn(i & (POOL - 1))) sink++
      const ns = Number(process.hrtime.bigint() - start)
      if (sink === 0) throw new Error(`${c.name} produced nothing`)
      if (r >= 0) c.rates.push(PER_ROUND / (ns / 1e9)) // round -1 warms the JIT
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0

const cases: Case[] = [
  { name: 'JSON.parse', fn: (i) => JSON.parse(textDecoder.decode(payloads[i])) as unknown, rates: [] },
  { name: 'decode', fn: (i) => decode(topics[i] ?? '', payloads[i] ?? new Uint8Array()).ok, rates: [] },
]
measure(cases)
const [bare, ours] = cases.map((c) => median(c.rates)) as [number, number]
// Refusals last, so their deoptimisation does not colour the valid-path figures.
const refusal: Case = { name: 'decode (invalid)', fn: (i) => !decode(topics[i] ?? '', '{"v":1,"type":"telemetry"}').ok, rates: [] }
measure([refusal])
const invalid = median(refusal.rates)

const fmt = (n: number) => `${Math.round(n).toLocaleString('en-US')} msg/s`
console.log(
  `telemetry message: ${bytes} bytes, ${POOL} distinct payloads, median of ${ROUNDS} rounds × ${PER_ROUND.toLocaleString('en-US')}`,
)
console.log(`  bare JSON.parse (utf-8 decode + parse)   ${fmt(bare)}`)
console.log(`  protocol decode (parse + validate)       ${fmt(ours)}`)
console.log(`  protocol decode of an invalid message    ${fmt(invalid)}`)
console.log(`  ratio decode / JSON.parse: ${(ours / bare).toFixed(2)}× (goal ≥ 0.80×)`)
