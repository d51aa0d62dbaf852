/**
 * bench/devices: the edge-node driver vs bare onnxruntime on the reference CfC models, simulated
 * outputs from the real model (shared, memoised) vs the echo-golden mode at 10,000 drivers, and
 * `simulate` at 1,000 devices (10,000 with `BENCH_FLEET=1000,10000`: ~3.5 min here) vs bare MQTT clients. Every ratio is against a baseline
 * measured in this run. `BENCH_QUICK=1` shortens it.
 */
import { benchFleet } from './fleet.js'
import { benchInference } from './inference.js'
import { benchSimulatedOutputs } from './simulated-outputs.js'

const quick = process.env.BENCH_QUICK === '1'
const started = performance.now()
await benchInference(['nano', 'tiny', 'small', 'medium', 'large'], (size) =>
  size === 'large' ? (quick ? 300 : 1500) : size === 'medium' ? (quick ? 1000 : 5000) : quick ? 3000 : 20_000,
)
await benchSimulatedOutputs(10_000, quick ? 5 : 20)
const fleetSizes = (process.env.BENCH_FLEET ?? '1000')
  .split(',')
  .map(Number)
  .filter((n) => n > 0)
await benchFleet(fleetSizes, quick ? 3000 : 10_000)
console.log(`\nbench/devices done in ${((performance.now() - started) / 1000).toFixed(0)} s`)
