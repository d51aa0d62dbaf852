/**
 * Telemetry ingest and reaction, in one run (`npm run bench telemetry`):
 * 1. raw: the broker's delivery rate of telemetry to one plain MQTT subscriber (the limit here);
 * 2. end to end: simulated devices → broker (aedes, port 0) → controller (a child process) →
 *    Redis windows, at the maximum rate and at 1 Hz, for 1,000 and 10,000 devices, with the
 *    controller's CPU and memory; ratio against raw;
 * 3. reaction: from the moment an error-rate rule's condition holds to every device of the canary
 *    cohort running the old model again (rollback received and applied).
 * Devices are simulated over 50 MQTT connections (gateway-style), QoS 0, one window per message.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import mqtt from 'mqtt'
import { createTopics } from '@liquid-edge/protocol'
import { REDIS_URL, deleteKeys, opaquePackage, startFakeDevices, uniquePrefix, uniqueRoot, waitFor } from '@liquid-edge/test/harness'
import { Publishers, publisherKey, startBenchBroker, startController, type ControllerProc } from './fleet.js'

const SIZES = [1000, 10_000]
/** 1 Hz phase length per fleet size (10,000 devices: shorter, to keep the bench near 2 minutes). */
const hzSeconds = (n: number) => (n >= 10_000 ? 5 : 10)
const CONNECTIONS = 50
const ids = (n: number) => Array.from({ length: n }, (_, i) => `b-${i}`)
const rate = (n: number, ms: number) => Math.round((n * 1000) / ms)

const broker = await startBenchBroker()
const root = uniqueRoot()
const prefix = uniquePrefix('bench-tm')
const bullPrefix = uniquePrefix('bench-tmb')
const key = publisherKey()
const pubs = await Publishers.connect(broker.url, root, CONNECTIONS)

async function rawRate(n: number, rounds: number): Promise<number> {
  const sub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 })
  await sub.subscribeAsync(createTopics(root).allDevices('telemetry'), { qos: 0 })
  let got = 0
  const t0 = performance.now()
  let last = t0
  sub.on('message', () => {
    got++
    last = performance.now()
  })
  for (let r = 0; r < rounds; r++) await pubs.publishAll(ids(n))
  const target = n * rounds
  // The broker shares this process: deliveries may only start once the publishers are done.
  last = Math.max(last, performance.now())
  await waitFor(() => got >= target || performance.now() - last > 2000, { timeoutMs: 120_000, intervalMs: 20 })
  await sub.endAsync(true)
  return rate(got, last - t0)
}

async function folded(c: ControllerProc): Promise<number> {
  return (await c.call<{ ingest: { folded: number } }>('GET', '/v1/telemetry?spanMs=1000')).ingest.folded
}

/** Wait until the controller has folded `target` messages (or stops progressing); returns when. */
async function drained(c: ControllerProc, target: number): Promise<{ at: number; folded: number }> {
  let prev = -1
  let since = performance.now()
  for (;;) {
    const f = await folded(c)
    const now = performance.now()
    if (f >= target) return { at: now, folded: f }
    if (f !== prev) [prev, since] = [f, now]
    else if (now - since > 3000) return { at: since, folded: f }
    await sleep(25)
  }
}

async function e2eMax(c: ControllerProc, n: number, rounds: number) {
  const start = await folded(c)
  const u0 = c.usage()
  const t0 = performance.now()
  for (let r = 0; r < rounds; r++) await pubs.publishAll(ids(n))
  const d = await drained(c, start + n * rounds)
  const u1 = c.usage()
  return { rate: rate(d.folded - start, d.at - t0), lost: start + n * rounds - d.folded, cpu: (u1.cpuS - u0.cpuS) / ((d.at - t0) / 1000) }
}

async function e2eHz(c: ControllerProc, n: number) {
  const start = await folded(c)
  const u0 = c.usage()
  const t0 = performance.now()
  const all = ids(n)
  const slice = Math.ceil(n / 10)
  const seconds = hzSeconds(n)
  for (let tick = 0; tick < seconds * 10; tick++) {
    const due = t0 + tick * 100
    await sleep(Math.max(0, due - performance.now()))
    const part = tick % 10
    await pubs.publishAll(all.slice(part * slice, (part + 1) * slice))
  }
  const sentEnd = performance.now()
  const d = await drained(c, start + n * seconds)
  const u1 = c.usage()
  return {
    lagMs: Math.round(d.at - sentEnd),
    lost: start + n * seconds - d.folded,
    cpu: (u1.cpuS - u0.cpuS) / ((d.at - t0) / 1000),
    rssMb: Math.round(u1.rssBytes / 2 ** 20),
  }
}

async function reaction(c: ControllerProc): Promise<{ fromHoldMs: number; fromFaultMs: number; bucketMs: number; evalMs: number }> {
  const devIds = Array.from({ length: 20 }, (_, i) => `r-${i}`)
  await c.call('POST', '/v1/devices/bulk', { devices: devIds.map((id) => ({ id, labels: { bench: 'reaction' } })) })
  for (const v of ['1.0.0', '2.0.0']) await c.call('POST', '/v1/models', opaquePackage(key.privateKey, { name: 'kws', version: v }))
  await using devices = await startFakeDevices({ url: broker.url, root }, devIds)
  const v1 = await c.call<{ id: string }>('POST', '/v1/rollouts', {
    model: { name: 'kws', version: '1.0.0' },
    target: 'bench=reaction',
    strategy: 'all',
  })
  await waitFor(async () => (await c.call<{ state: string }>('GET', `/v1/rollouts/${v1.id}`)).state === 'completed', { timeoutMs: 30_000 })
  const v2 = await c.call<{ id: string }>('POST', '/v1/rollouts', {
    model: { name: 'kws', version: '2.0.0' },
    target: 'bench=reaction',
    strategy: 'all',
    bakeMs: 600_000,
  })
  const rule = {
    name: 'error-rate',
    metric: 'error_rate',
    threshold: 0.1,
    windowMs: 1000,
    sustainedMs: 0,
    minSamples: 100,
    action: 'rollback-rollout',
  }
  await c.call('POST', `/v1/rollouts/${v2.id}/rules`, { rules: [rule] })
  await waitFor(() => devices.every((d) => d.active?.version === '2.0.0'), { timeoutMs: 30_000 })
  const B = Number(process.env.BENCH_BUCKET_MS ?? 250)
  const tFault = Date.now()
  const timer = setInterval(() => {
    void pubs.publishAll(devIds, (id) => {
      const v = devices.find((d) => d.id === id)?.active?.version ?? '1.0.0'
      return { model: { name: 'kws', version: v }, errors: v === '2.0.0' ? 10 : 0 }
    })
  }, 50)
  // The condition holds once the first bucket entirely after the fault is complete (20 devices ×
  // 20 windows/s × 20 inferences ≫ the 100 samples needed).
  const tHold = (Math.floor(tFault / B) + 2) * B
  await waitFor(() => devices.every((d) => d.active?.version === '1.0.0'), { timeoutMs: 60_000, intervalMs: 5 })
  const tDone = Date.now()
  clearInterval(timer)
  return { fromHoldMs: tDone - tHold, fromFaultMs: tDone - tFault, bucketMs: B, evalMs: Number(process.env.BENCH_EVAL_MS ?? 1000) }
}

console.log(`node ${process.version}, ${CONNECTIONS} publisher connections, QoS 0, aedes (emitter concurrency unbounded) on ${broker.url}`)
const raw = new Map<number, number>()
for (const n of SIZES) raw.set(n, await rawRate(n, n >= 10_000 ? 3 : 20))
const ctl = await startController({
  LLN_REDIS_URL: REDIS_URL,
  LLN_PREFIX: prefix,
  LLN_BULL_PREFIX: bullPrefix,
  LLN_MQTT_URL: broker.url,
  LLN_ROOT: root,
  LLN_PUBLISHER_KEYS: key.publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
  LLN_STORE_DIR: `/tmp/${prefix}`,
  LLN_TICK_MS: '200',
  LLN_TELEMETRY_BUCKET_MS: process.env.BENCH_BUCKET_MS ?? '250',
  LLN_RULES_EVAL_MS: process.env.BENCH_EVAL_MS ?? '1000',
})
try {
  console.log('\nmax rate (burst)      raw → 1 subscriber    e2e → Redis windows   ratio   lost   controller CPU')
  for (const n of SIZES) {
    const r = await e2eMax(ctl, n, n >= 10_000 ? 3 : 20)
    const rw = raw.get(n) ?? 0
    console.log(
      `${String(n).padStart(6)} devices       ${String(rw).padStart(8)} msg/s        ${String(r.rate).padStart(8)} msg/s     ${(r.rate / rw).toFixed(2)}   ${String(r.lost).padStart(5)}   ${(r.cpu * 100).toFixed(0)}%`,
    )
  }
  console.log(`\n1 Hz (10 s; 5 s at 10,000)  lag after last send   lost   controller CPU   RSS`)
  for (const n of SIZES) {
    const r = await e2eHz(ctl, n)
    console.log(
      `${String(n).padStart(6)} devices       ${String(r.lagMs).padStart(6)} ms             ${String(r.lost).padStart(5)}   ${(r.cpu * 100).toFixed(0).padStart(5)}%          ${r.rssMb} MB`,
    )
  }
  const re = await reaction(ctl)
  console.log(`\nreaction (20 devices, error-rate rule, window 1 s, bucket ${re.bucketMs} ms, evaluation every ${re.evalMs} ms)`)
  console.log(
    `  condition holds → every device back on the old model: ${re.fromHoldMs} ms (aim < 2000 + ${re.evalMs}); from fault injection: ${re.fromFaultMs} ms`,
  )
} finally {
  await ctl.stop()
  await pubs.close()
  await broker.close()
  const redis = new Redis(REDIS_URL)
  await deleteKeys(redis, prefix)
  await deleteKeys(redis, bullPrefix)
  await redis.quit()
}
