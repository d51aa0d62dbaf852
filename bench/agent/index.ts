/**
 * bench/agent: inference through the agent (in-process and POST /inference) against the bare driver
 * in the same run, the agent's RSS with a model loaded, per-agent memory for in-process fleets, and
 * histogram memory. Driver: the FakeDriver of the test harness (the ORT comparison joins once the
 * edge-node driver is wired here).
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtemp, rm } from 'node:fs/promises'
import { Agent as HttpAgent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import hdr from 'hdr-histogram-js'
import { createAgent, createMemoryStateStore, type Agent, type AgentTransport, type TransportHandlers } from '@liquid-edge/agent'
import { addLatency, createCodec, deviceMessage, emptyLatency, latencyQuantile } from '@liquid-edge/protocol'
import { FakeDriver, buildFakePackage, publisherKeyPair, startArtifactServer } from '@liquid-edge/test/harness'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
const codec = createCodec()
const keys = publisherKeyPair()
const artifacts = await startArtifactServer()
const pkg = buildFakePackage(keys.privateKey, { version: '1.0.0', inputLength: 4, outputLength: 2 })
const ref = artifacts.ref('bench.liquid', pkg)
const dir = await mkdtemp(join(tmpdir(), 'lln-bench-agent-'))

/** A transport that is always connected and drops what it publishes: no broker in the measurement. */
function nullTransport(deviceId: string): AgentTransport & { handlers: TransportHandlers | null } {
  const t = {
    deviceId,
    connected: true,
    handlers: null as TransportHandlers | null,
    start(h: TransportHandlers) {
      t.handlers = h
      h.connected()
      return Promise.resolve()
    },
    publish: () => Promise.resolve(),
    close: () => Promise.resolve(),
  }
  return t
}

async function agentWithModel(
  deviceId: string,
  extra: Partial<Parameters<typeof createAgent>[0]> = {},
): Promise<{ agent: Agent; driver: FakeDriver }> {
  const driver = new FakeDriver()
  const transport = nullTransport(deviceId)
  const agent = await createAgent({
    deviceId,
    stateDir: join(dir, deviceId),
    driver,
    publisherKeys: [keys.publicKeyPem],
    transport,
    telemetryTimer: false,
    ...extra,
  })
  const desired = deviceMessage('desired', deviceId, {
    generation: 1,
    rolloutId: null,
    model: ref,
    policy: { trialMs: 0, latencyThresholdMs: 5 },
  })
  transport.handlers?.message('desired', codec.encode(desired))
  while (agent.state.phase !== 'active') await new Promise((r) => setTimeout(r, 5))
  return { agent, driver }
}

interface Figures {
  perSecond: number
  p50us: number
  p99us: number
}

/** Run `fn` sequentially for `seconds`, timing every call. */
async function loop(fn: () => Promise<unknown>, seconds: number): Promise<Figures> {
  for (let i = 0; i < 5000; i++) await fn() // warm-up
  const h = emptyLatency()
  const end = performance.now() + seconds * 1000
  let n = 0
  const start = performance.now()
  while (performance.now() < end) {
    for (let i = 0; i < 256; i++) {
      const t0 = performance.now()
      await fn()
      addLatency(h, performance.now() - t0)
    }
    n += 256
  }
  const elapsed = (performance.now() - start) / 1000
  return { perSecond: n / elapsed, p50us: (latencyQuantile(h, 0.5) ?? 0) * 1000, p99us: (latencyQuantile(h, 0.99) ?? 0) * 1000 }
}

/** POST /inference with `concurrency` keep-alive connections for `seconds`. */
async function httpLoad(url: string, seconds: number, concurrency: number): Promise<Figures> {
  const keepAlive = new HttpAgent({ keepAlive: true, maxSockets: concurrency })
  const body = JSON.stringify({ input: [1, 2, 3, 4] })
  const u = new URL(`${url}/inference`)
  const once = () =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host: u.hostname,
          port: u.port,
          path: u.pathname,
          method: 'POST',
          agent: keepAlive,
          headers: { 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          res.resume()
          res.on('end', () => {
            if (res.statusCode === 200) resolve()
            else reject(new Error(`HTTP ${res.statusCode}`))
          })
        },
      )
      req.on('error', reject)
      req.end(body)
    })
  for (let i = 0; i < 500; i++) await once()
  const h = emptyLatency()
  let n = 0
  const start = performance.now()
  const end = start + seconds * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now()
        await once()
        addLatency(h, performance.now() - t0)
        n++
      }
    }),
  )
  keepAlive.destroy()
  return {
    perSecond: n / ((performance.now() - start) / 1000),
    p50us: (latencyQuantile(h, 0.5) ?? 0) * 1000,
    p99us: (latencyQuantile(h, 0.99) ?? 0) * 1000,
  }
}

const fmt = (f: Figures) =>
  `${Math.round(f.perSecond).toLocaleString('en-US').padStart(10)} inf/s   p50 ${f.p50us.toFixed(2).padStart(7)} µs   p99 ${f.p99us.toFixed(2).padStart(7)} µs`
const MB = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`

// RSS of the agent alone in a process (this bench process also holds the harness, aedes, …).
// (async: the artifact server the child downloads from lives in this process)
const runChild = async (args: string[]) => {
  const out = await promisify(execFile)(
    process.execPath,
    ['--expose-gc', '--conditions=@liquid-edge/source', '--import', 'tsx', join(import.meta.dirname, 'rss-child.ts'), ...args],
    { encoding: 'utf8' },
  )
  return JSON.parse(out.stdout.trim().split('\n').at(-1) ?? '{}') as { rss: number; heapUsed: number }
}
const empty = await runChild(['baseline'])
const alone = await runChild([JSON.stringify(ref), keys.publicKeyPem])
console.log(
  `agent alone, model loaded, 100k inferences served: RSS ${MB(alone.rss)}, heap ${MB(alone.heapUsed)}; ` +
    `an empty script under the same tsx loader: RSS ${MB(empty.rss)} → agent ${MB(alone.rss - empty.rss)} over it (budget 512 MB, aim < 100 MB)`,
)
const { agent, driver } = await agentWithModel('bench-1', { http: { port: 0 } })
const input = Float32Array.from([1, 2, 3, 4])

const bare = await loop(() => driver.infer(input, 'a'), SECONDS)
const inProcess = await loop(() => agent.infer(input), SECONDS)
console.log(`bare driver.infer (baseline)    ${fmt(bare)}`)
console.log(`agent.infer (in-process)        ${fmt(inProcess)}`)
console.log(
  `  agent overhead: ${(bare.perSecond / inProcess.perSecond).toFixed(2)}x time per inference, +${(inProcess.p50us - bare.p50us).toFixed(2)} µs at p50`,
)
console.log(
  `  vs runbook 36,836 inf/s: ${(inProcess.perSecond / 36_836).toFixed(1)}x; p99 ${(inProcess.p99us / 1000).toFixed(4)} ms vs 0.1 ms`,
)
const http1 = await httpLoad(agent.httpUrl ?? '', SECONDS, 1)
const http16 = await httpLoad(agent.httpUrl ?? '', SECONDS, 16)
console.log(`POST /inference, 1 connection   ${fmt(http1)}`)
console.log(`POST /inference, 16 connections ${fmt(http16)}`)
console.log(`  HTTP vs in-process: ${(inProcess.perSecond / http16.perSecond).toFixed(1)}x slower (JSON + loopback TCP)`)
console.log(`agent RSS after the runs: ${MB(process.memoryUsage().rss)}`)
await agent.close()

// Memory per agent in one process (a simulated fleet): memory state store, no HTTP, external telemetry ticks.
const FLEET = Number(process.env.BENCH_FLEET ?? 500)
global.gc?.()
const heapBefore = process.memoryUsage().heapUsed
const rssBefore = process.memoryUsage().rss
const fleet: Agent[] = []
for (let i = 0; i < FLEET; i++) {
  fleet.push(
    (await agentWithModel(`fleet-${i}`, { stateStore: createMemoryStateStore(), telemetryBufferOnDisk: false, logLines: 20 })).agent,
  )
}
global.gc?.()
const heapPer = (process.memoryUsage().heapUsed - heapBefore) / FLEET
const rssPer = (process.memoryUsage().rss - rssBefore) / FLEET
console.log(
  `${FLEET} agents in one process: ${(heapPer / 1024).toFixed(1)} KB heap and ${(rssPer / 1024).toFixed(1)} KB RSS per agent (FakeDriver included)`,
)
for (const a of fleet) await a.close()

// Histogram memory: the agent's latency accumulator (protocol statistics module, 100 samples of a
// realistic spread recorded) vs hdr-histogram-js, 1,000 instances each.
const measure = (make: () => unknown) => {
  global.gc?.()
  const m0 = process.memoryUsage()
  const keep = Array.from({ length: 1000 }, make)
  const m1 = process.memoryUsage()
  const bytes = m1.heapUsed - m0.heapUsed + (m1.arrayBuffers - m0.arrayBuffers)
  return { bytes: bytes / keep.length }
}
const log = measure(() => {
  const acc = emptyLatency()
  for (let i = 0; i < 100; i++) addLatency(acc, 2 + ((i * 37) % 100) / 50)
  return acc
})
const hdrH = measure(() => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 2 }))
console.log(
  `histogram memory: latency accumulator ${(log.bytes / 1024).toFixed(1)} KB, hdr-histogram-js (2 digits) ${(hdrH.bytes / 1024).toFixed(1)} KB per instance (${(hdrH.bytes / log.bytes).toFixed(1)}x)`,
)

await artifacts.close()
await rm(dir, { recursive: true, force: true })
