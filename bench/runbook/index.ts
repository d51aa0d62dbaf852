/**
 * bench/runbook: one runbook verb over N devices end to end — `POST /v1/runbook/status` (HTTP,
 * target resolution, fan-out of N commands, replies gathered by id, report) — beside a raw
 * request/reply round of N commands from a bare MQTT client to the same fake devices in the same run.
 *
 *   npm run bench runbook                  # 1,000 devices
 *   BENCH_SIZES=200,1000,5000 npm run bench runbook
 */
import { createCodec, deviceMessage } from '@liquid-edge/protocol'
import { connectClient, startFakeDevices, startPlainBroker, waitFor } from '@liquid-edge/test/harness'
import { controllerSpace } from '@liquid-edge/test/controller'
import { createController } from '@liquid-edge/controller'

const sizes = (process.env.BENCH_SIZES ?? '1000').split(',').map(Number)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '3')
const TOKEN = 'bench-admin-token-0123456789'

async function rawRound(url: string, root: string, ids: readonly string[]): Promise<number> {
  const codec = createCodec({ root })
  const client = await connectClient(url, { clientId: `bench-raw-${Math.random().toString(36).slice(2, 8)}` })
  await client.subscribeAsync(codec.topics.allDevices('reply'), { qos: 1 })
  const waiting = new Set<string>()
  let resolveAll: () => void = () => undefined
  const all = new Promise<void>((r) => (resolveAll = r))
  client.on('message', (topic, payload) => {
    const d = codec.decode(topic, payload)
    if (d.ok && d.message.type === 'reply' && waiting.delete(d.message.body.commandId) && waiting.size === 0) resolveAll()
  })
  const t0 = performance.now()
  for (const id of ids) {
    const msg = deviceMessage('command', id, { kind: 'status', metric: 'memory', expiresAt: Date.now() + 60_000 })
    waiting.add(msg.id)
    void client.publishAsync(codec.topics.cmd(id), Buffer.from(codec.encode(msg)), { qos: 1 })
  }
  await all
  const ms = performance.now() - t0
  await client.endAsync()
  return ms
}

async function verbRound(url: string): Promise<number> {
  const t0 = performance.now()
  const res = await fetch(`${url}/v1/runbook/status`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ target: 'env=bench', metric: 'memory', timeoutMs: 60_000 }),
  })
  const report = (await res.json()) as { answered: number; devices: number; verdict: string }
  const ms = performance.now() - t0
  if (report.answered !== report.devices) throw new Error(`only ${report.answered}/${report.devices} answered`)
  return ms
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0

for (const n of sizes) {
  const broker = await startPlainBroker()
  const space = controllerSpace('bench-rb')
  const { root } = space
  const c = await createController({ config: space.config(broker.url, { adminToken: TOKEN }), publisherKeys: [] })
  const ids = Array.from({ length: n }, (_, i) => `bench-${String(i).padStart(5, '0')}`)
  await c.registry.addMany(ids.map((id) => ({ id, labels: { env: 'bench' } })))
  const devices = []
  for (let i = 0; i < ids.length; i += 250) devices.push(...(await startFakeDevices({ url: broker.url, root }, ids.slice(i, i + 250))))
  await waitFor(async () => (await c.live.views(ids)).every((v) => v.status?.online === true), { timeoutMs: 60_000 })
  const raw: number[] = []
  const verb: number[] = []
  await rawRound(broker.url, root, ids) // warm-up
  await verbRound(c.url)
  for (let r = 0; r < ROUNDS; r++) {
    raw.push(await rawRound(broker.url, root, ids))
    verb.push(await verbRound(c.url))
  }
  const rawMs = median(raw)
  const verbMs = median(verb)
  console.log(
    `${n} devices: raw request/reply round ${rawMs.toFixed(1)} ms (${Math.round((n / rawMs) * 1000)} replies/s) · ` +
      `status verb via API ${verbMs.toFixed(1)} ms (${Math.round((n / verbMs) * 1000)} devices/s) · ratio ${(verbMs / rawMs).toFixed(2)}× raw (median of ${ROUNDS})`,
  )
  await Promise.all(devices.map((d) => d.stop()))
  await c.close()
  await broker.close()
  await space.clean()
}
