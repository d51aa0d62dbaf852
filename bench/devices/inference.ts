/** In-process inference: the edge-node driver against a bare onnxruntime `session.run` loop. */
import * as ort from 'onnxruntime-node'
import {
  buildCfcModel,
  createEdgeNodeDriver,
  packModel,
  REFERENCE_MODELS,
  SESSION_OPTIONS,
  type ReferenceModelSize,
} from '@liquid-edge/devices'
import { generateSigningKeys, loadPrivateKey } from '@liquid-edge/package'

const RUNBOOK_PER_S = 36_836
const RUNBOOK_P99_MS = 0.1

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
}

interface Figures {
  p50: number
  p99: number
  perS: number
}

async function measure(n: number, once: () => Promise<unknown>): Promise<Figures> {
  for (let i = 0; i < Math.min(200, n / 10); i++) await once()
  const times = new Float64Array(n)
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const s = performance.now()
    await once()
    times[i] = performance.now() - s
  }
  const total = performance.now() - t0
  const sorted = Array.from(times).sort((a, b) => a - b)
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), perS: (n / total) * 1000 }
}

const fmt = (ms: number) => (ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`)

export async function benchInference(sizes: ReferenceModelSize[], iterations: (size: ReferenceModelSize) => number): Promise<void> {
  const privateKey = loadPrivateKey(generateSigningKeys().privateKeyPem)
  console.log('\n-- in-process inference (1 intra-op thread, sequential, no spinning) --')
  console.log('size    params     bare ORT p50/p99 (inf/s)          edge-node driver p50/p99 (inf/s)     ratio  worker-thread p50 (hop)')
  for (const size of sizes) {
    const spec = { ...REFERENCE_MODELS[size], seed: 1 }
    const model = buildCfcModel(spec)
    const inputLength = spec.features * spec.steps
    const input = Float32Array.from({ length: inputLength }, (_, i) => Math.sin(i))
    const n = iterations(size)

    const session = await ort.InferenceSession.create(model, SESSION_OPTIONS)
    const feeds = () => ({ x: new ort.Tensor('float32', input, [1, inputLength]) })
    const bare = await measure(n, () => session.run(feeds()))
    await session.release()

    const packed = await packModel({ model, name: size, version: '1.0.0', latencyThresholdMs: 1000, goldenInputs: [input], privateKey })
    const image = { manifest: packed.manifest, model }
    const inline = await createEdgeNodeDriver({ worker: 'never' })
    await inline.load('a', image)
    await inline.activate('a')
    const driver = await measure(n, () => inline.infer(input))
    await inline.close()

    const threaded = await createEdgeNodeDriver({ worker: 'always' })
    await threaded.load('a', image)
    await threaded.activate('a')
    const worker = await measure(Math.max(200, Math.floor(n / 4)), () => threaded.infer(input))
    await threaded.close()

    const params = (spec.features + spec.hidden) * 4 * spec.hidden + spec.hidden * spec.classes
    const ratio = bare.perS / driver.perS
    console.log(
      `${size.padEnd(7)} ${String(params).padStart(7)}    ${fmt(bare.p50).padStart(9)} / ${fmt(bare.p99).padEnd(9)} (${Math.round(bare.perS).toString().padStart(6)})` +
        `       ${fmt(driver.p50).padStart(9)} / ${fmt(driver.p99).padEnd(9)} (${Math.round(driver.perS).toString().padStart(6)})` +
        `   ${ratio.toFixed(2)}×   ${fmt(worker.p50).padStart(9)} (+${fmt(worker.p50 - driver.p50)})`,
    )
    if (size === sizes[0]) {
      console.log(
        `        vs runbook ${RUNBOOK_PER_S} inf/s and ${RUNBOOK_P99_MS} ms p99: driver throughput ${(driver.perS / RUNBOOK_PER_S).toFixed(2)}×, p99 ${(driver.p99 / RUNBOOK_P99_MS).toFixed(2)}× the runbook's`,
      )
    }
  }
  console.log('ratio = bare ORT throughput / driver throughput (1.00 = no overhead). "hop" = worker p50 − inline p50.')
  console.log(`An inline inference blocks the event loop for its whole latency; the worker hop costs the figure in brackets.`)
}
