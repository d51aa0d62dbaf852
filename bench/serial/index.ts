/**
 * bench/serial: model transfer throughput over the emulated serial link at 115200 and 921600 baud
 * against the raw line rate measured in the same run (the same bytes pushed through the same paced
 * line with no framing, no CRC, no acks), and inference round-trip time over the link.
 *
 *   npm run bench serial            (SERIAL_BENCH_QUICK=1 for a shorter run)
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { ModelImage } from '@liquid-edge/agent'
import {
  EmulatedLine,
  Stm32Emulator,
  attachEmulator,
  buildCfcModel,
  createStm32Driver,
  openMockPort,
  packModel,
  slotImageOf,
} from '@liquid-edge/devices'
import { generateSigningKeys, loadPrivateKey } from '@liquid-edge/package'
import { PackageManifestSchema } from '@liquid-edge/protocol'

const quick = process.env.SERIAL_BENCH_QUICK === '1'

/** A model image of `bytes` random bytes: the transfer does not run it. */
function blobImage(bytes: number): ModelImage {
  const model = randomBytes(bytes)
  const manifest = PackageManifestSchema.parse({
    format: 1,
    name: 'blob',
    version: '1.0.0',
    createdAt: Date.now(),
    runtime: 'onnx',
    input: { name: 'x', shape: [1, 4], dtype: 'float32' },
    output: { name: 'y', shape: [1, 2], dtype: 'float32' },
    latencyThresholdMs: 50,
    golden: [{ input: [0, 0, 0, 0], output: [0, 0] }],
    modelSha256: createHash('sha256').update(model).digest('hex'),
    modelSize: model.length,
  })
  return { manifest, model }
}

async function rawLine(bytes: number, baudRate: number): Promise<number> {
  const start = performance.now()
  await new Promise<void>((resolve) => {
    let got = 0
    const line = new EmulatedLine(
      (d) => {
        got += d.length
        if (got >= bytes) resolve()
      },
      { baudRate },
    )
    const chunk = Buffer.alloc(2048, 0x55)
    for (let sent = 0; sent < bytes; sent += chunk.length) line.send(chunk.subarray(0, Math.min(chunk.length, bytes - sent)))
  })
  return (bytes / (performance.now() - start)) * 1000
}

async function rig(baudRate: number, timing: 'instant' | 'realtime', faults: { bitErrorRate?: number; dropRate?: number } = {}) {
  const path = `/dev/ttyBENCH-${randomUUID().slice(0, 8)}`
  const port = attachEmulator(path, new Stm32Emulator({ mcuId: 'bench', timing }), { baudRate, ...faults })
  const driver = await createStm32Driver({ path, openPort: openMockPort, baudRate })
  return {
    driver,
    close: async () => {
      await driver.close()
      port.close()
    },
  }
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
const f = (n: number, d = 1): string => n.toFixed(d)

console.log('transfer throughput (image bytes / s; line = measured raw paced line, same bytes, same run)')
for (const { baud, kib } of [
  { baud: 115200, kib: quick ? 16 : 64 },
  { baud: 921600, kib: quick ? 64 : 256 },
]) {
  const image = blobImage(kib * 1024)
  const size = slotImageOf(image).length
  const line = await rawLine(size, baud)
  for (const timing of ['instant', 'realtime'] as const) {
    const r = await rig(baud, timing)
    const start = performance.now()
    await r.driver.load('a', image)
    const ms = performance.now() - start
    const rate = (size / ms) * 1000
    const label = timing === 'instant' ? 'link only' : 'with flash timing model'
    console.log(
      `  ${String(baud).padStart(6)} baud, ${f(size / 1024)} KiB, ${label.padEnd(23)}: ${f(rate / 1024, 2)} KiB/s vs line ${f(line / 1024, 2)} KiB/s (nominal ${f(baud / 10240, 2)}) → ${f((100 * rate) / line)} % of line rate; ${r.driver.counters.requests} requests, ${r.driver.counters.retransmits} retransmits`,
    )
    await r.close()
  }
}

{
  const image = blobImage((quick ? 64 : 256) * 1024)
  const size = slotImageOf(image).length
  const r = await rig(921600, 'realtime', { bitErrorRate: 1e-5, dropRate: 1e-5 })
  const start = performance.now()
  await r.driver.load('a', image)
  const rate = (size / (performance.now() - start)) * 1000
  const c = r.driver.counters
  console.log(
    `  921600 baud, ${f(size / 1024)} KiB, 1e-5 bit errors + 1e-5 drops per byte: ${f(rate / 1024, 2)} KiB/s → ${f((100 * rate) / 92160)} % of nominal; ${c.retransmits} retransmits (${c.naks} NAKs, ${c.timeouts} timeouts)`,
  )
  await r.close()
}

const spec = { features: 8, steps: 8, hidden: 16, classes: 4, seed: 8 }
const cfc = buildCfcModel(spec)
const goldenInputs = [Array.from({ length: 64 }, (_, i) => Math.sin(i))]
const privateKey = loadPrivateKey(generateSigningKeys().privateKeyPem)
const packed = await packModel({ model: cfc, name: 'cfc', version: '1.0.0', latencyThresholdMs: 20, goldenInputs, privateKey })
const cfcImage: ModelImage = { manifest: packed.manifest, model: cfc }
console.log(`inference round trip (CfC 8×8 → 4, ${cfc.length} bytes of ONNX; realtime emulator timing)`)
for (const baud of [115200, 921600]) {
  const r = await rig(baud, 'realtime')
  const image = cfcImage
  await r.driver.load('a', image)
  await r.driver.activate('a')
  const x = Float32Array.from(image.manifest.golden[0]!.input)
  const n = quick ? 30 : 200
  const rtt: number[] = []
  const base: number[] = []
  let device = 0
  for (let i = 0; i < n; i++) {
    let t = performance.now()
    const res = await r.driver.infer(x)
    rtt.push(performance.now() - t)
    device = res.latencyMs
    t = performance.now()
    await r.driver.slots()
    base.push(performance.now() - t)
  }
  rtt.sort((a, b) => a - b)
  base.sort((a, b) => a - b)
  console.log(
    `  ${String(baud).padStart(6)} baud: infer RTT p50 ${f(pct(rtt, 0.5), 2)} ms, p95 ${f(pct(rtt, 0.95), 2)} ms (device compute ${f(device, 3)} ms); STATUS RTT p50 ${f(pct(base, 0.5), 2)} ms → infer/STATUS ${f(pct(rtt, 0.5) / pct(base, 0.5), 2)}×`,
  )
  await r.close()
}
