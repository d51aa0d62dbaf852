/**
 * Simulated outputs at fleet scale: N simulated drivers on one model answering their workload (the
 * golden inputs, in turn), with the model really running (`real`: one shared onnxruntime session,
 * outputs memoised by input) against the opt-in `echo-golden` mode (no model) as the baseline.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { generateSigningKeys, loadPrivateKey, parsePackage } from '@liquid-edge/package'
import { buildDemoPackages, createSimulatedDriver, type SimulatedInference } from '@liquid-edge/devices'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const heap = (): number => {
  gc()
  return process.memoryUsage().heapUsed
}

interface Figures {
  loadMs: number
  perInferenceUs: number
  heapPerDeviceKiB: number
}

async function run(mode: SimulatedInference, n: number, rounds: number): Promise<Figures> {
  const [, v2] = await buildDemoPackages({ privateKey: loadPrivateKey(generateSigningKeys().privateKeyPem) })
  const parsed = parsePackage(v2!.bytes)
  if (!parsed.ok) throw new Error(parsed.message)
  const image = { manifest: parsed.package.manifest, model: parsed.package.model }
  const inputs = image.manifest.golden.map((g) => Float32Array.from(g.input))
  const heap0 = heap()
  const t0 = performance.now()
  const drivers = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const d = await createSimulatedDriver({ realTime: false, inference: mode, deviceId: `b-${i}` })
      await d.load('a', image)
      await d.activate('a')
      return d
    }),
  )
  const loadMs = performance.now() - t0
  const t1 = performance.now()
  for (let r = 0; r < rounds; r++) await Promise.all(drivers.map((d, i) => d.infer(inputs[(i + r) % inputs.length] ?? new Float32Array())))
  const perInferenceUs = ((performance.now() - t1) * 1000) / (n * rounds)
  const heapPerDeviceKiB = (heap() - heap0) / n / 1024
  await Promise.all(drivers.map((d) => d.close()))
  return { loadMs, perInferenceUs, heapPerDeviceKiB }
}

export async function benchSimulatedOutputs(n: number, rounds: number): Promise<void> {
  console.log(`\n-- simulated outputs: ${n} simulated drivers on cfc-sense 1.1.0, ${rounds} inferences each (in process) --`)
  console.log('mode          load all     per inference   heap/device')
  const figures: [string, Figures][] = []
  for (const mode of ['echo-golden', 'real'] as const) figures.push([mode, await run(mode, n, rounds)])
  for (const [mode, f] of figures)
    console.log(
      `${mode.padEnd(12)}  ${(f.loadMs / 1000).toFixed(2).padStart(6)} s   ${f.perInferenceUs.toFixed(2).padStart(8)} µs   ${f.heapPerDeviceKiB.toFixed(1).padStart(7)} KiB`,
    )
  const [, echo] = figures[0] ?? []
  const [, real] = figures[1] ?? []
  if (echo !== undefined && real !== undefined)
    console.log(`ratio real/echo-golden: per inference ${(real.perInferenceUs / echo.perInferenceUs).toFixed(2)}×`)
}
