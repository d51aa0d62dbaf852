/**
 * The agent alone in a process (as `liquid-agent` runs it): loads a model through the reconciler and
 * prints its RSS. Only the agent and protocol are imported.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createAgent, type DeviceDriver, type SlotName, type TransportHandlers } from '@liquid-edge/agent'
import { createCodec, deviceMessage, type ModelRef } from '@liquid-edge/protocol'

/** The FakeDriver's model function, without importing the test harness (aedes, ioredis, …) into this process. */
function benchDriver(): DeviceDriver {
  const slots: Record<SlotName, { scale: number; bias: number; out: number } | null> = { a: null, b: null }
  let active: SlotName = 'a'
  return {
    hardware: 'bench',
    load: (slot, image) => {
      const spec = JSON.parse(new TextDecoder().decode(image.model)) as { scale: number; bias: number }
      slots[slot] = { ...spec, out: image.manifest.output.shape.reduce((a, b) => a * b, 1) }
      return Promise.resolve()
    },
    unload: (slot) => {
      slots[slot] = null
      return Promise.resolve()
    },
    activate: (slot) => {
      active = slot
      return Promise.resolve()
    },
    infer: (input, slot) => {
      const m = slots[slot ?? active]
      if (m === null) return Promise.reject(new Error('no model'))
      const output = new Float32Array(m.out)
      for (let j = 0; j < m.out; j++) output[j] = m.scale * (input[j % input.length] ?? 0) + m.bias
      return Promise.resolve({ output, latencyMs: 0.05, energyMj: null })
    },
    readSensors: () => Promise.resolve({ powerMw: null, temperatureC: null, memory: null, storage: null }),
    selfTest: () => Promise.resolve({ ok: true }),
    close: () => Promise.resolve(),
  }
}

if (process.argv[2] === 'baseline') {
  process.stdout.write(JSON.stringify({ rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed }) + '\n')
  process.exit(0)
}
const [refJson, publicKeyPem] = [process.argv[2] ?? '', process.argv[3] ?? '']
const ref = JSON.parse(refJson) as ModelRef
const dir = await mkdtemp(join(tmpdir(), 'lln-bench-rss-'))
let handlers: TransportHandlers | null = null
const agent = await createAgent({
  deviceId: 'rss-1',
  stateDir: dir,
  driver: benchDriver(),
  publisherKeys: [publicKeyPem],
  http: { port: 0 },
  transport: {
    deviceId: 'rss-1',
    connected: true,
    start: (h) => {
      handlers = h
      h.connected()
      return Promise.resolve()
    },
    publish: () => Promise.resolve(),
    close: () => Promise.resolve(),
  },
})
const codec = createCodec()
const desired = deviceMessage('desired', 'rss-1', {
  generation: 1,
  rolloutId: null,
  model: ref,
  policy: { trialMs: 0, latencyThresholdMs: 5 },
})
;(handlers as TransportHandlers | null)?.message('desired', codec.encode(desired))
while (agent.state.phase !== 'active') await new Promise((r) => setTimeout(r, 5))
for (let i = 0; i < 100_000; i++) await agent.infer(Float32Array.from([1, 2, 3, 4]))
globalThis.gc?.()
process.stdout.write(JSON.stringify({ rss: process.memoryUsage().rss, heapUsed: process.memoryUsage().heapUsed }) + '\n')
await agent.close()
await rm(dir, { recursive: true, force: true })
