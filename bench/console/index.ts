/**
 * bench/console: what the web console's fleet page costs the controller with a large registry —
 * one page of the virtualised table, a page behind a label filter, a page behind a live-state
 * filter, the counts — beside the baseline of the same run: `GET /v1/devices`, the whole fleet in
 * one answer (what a console without server-side paging would fetch).
 *
 *   npm run bench console                  # 10,000 devices
 *   BENCH_SIZES=10000,50000 npm run bench console
 */
import { generateKeyPairSync } from 'node:crypto'
import { startPlainBroker } from '@liquid-edge/test/harness'
import { controllerSpace } from '@liquid-edge/test/controller'
import { createController, type Controller } from '@liquid-edge/controller'

const sizes = (process.env.BENCH_SIZES ?? '10000').split(',').map(Number)
const RUNS = 15
const PHASES = ['active', 'active', 'active', 'idle', 'trial', 'failed'] as const

/** Give every device a live state through the controller's own ingest API, as if it had reported. */
async function seed(c: Controller, ids: readonly string[]): Promise<void> {
  const model = { name: 'bench', version: '1.0.0', sha256: 'a'.repeat(64) }
  const now = Date.now()
  for (let i = 0; i < ids.length; i += 500) {
    await Promise.all(
      ids.slice(i, i + 500).map(async (id, k) => {
        const n = i + k
        await c.live.applyStatus(id, { online: n % 20 !== 0, session: 1 }, now)
        await c.live.applyReported(
          id,
          {
            generation: 1,
            rolloutId: null,
            phase: PHASES[n % PHASES.length] ?? 'active',
            slots: [{ slot: 'a', model, role: 'active' }],
            error: null,
            reason: null,
            agentVersion: 'bench',
            hardware: n % 2 === 0 ? 'stm32h743' : 'x86-edge',
          },
          now,
        )
      }),
    )
  }
}

/** Median time and answer size of GET `path` over RUNS calls. */
async function measure(c: Controller, token: string, path: string): Promise<{ ms: number; bytes: number }> {
  const times: number[] = []
  let bytes = 0
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now()
    const res = await fetch(`${c.url}${path}`, { headers: { authorization: `Bearer ${token}` } })
    const body = await res.arrayBuffer()
    times.push(performance.now() - t)
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`)
    bytes = body.byteLength
  }
  times.sort((a, b) => a - b)
  return { ms: times[Math.floor(times.length / 2)] ?? 0, bytes }
}

async function run(n: number): Promise<void> {
  const broker = await startPlainBroker()
  const space = controllerSpace('bench-console')
  const token = 'bench-console-admin-token'
  const config = space.config(broker.url, { adminToken: token, logLevel: 'silent' })
  const c = await createController({ config, publisherKeys: [generateKeyPairSync('ed25519').publicKey] })
  try {
    const ids = Array.from({ length: n }, (_, i) => `b-${String(i).padStart(6, '0')}`)
    await c.registry.addMany(ids.map((id, i) => ({ id, labels: { env: 'bench', zone: `z${i % 10}` } })))
    await seed(c, ids)
    const rows: [string, string][] = [
      ['baseline: the whole fleet, GET /v1/devices', '/v1/devices'],
      ['one page of 100 (the table as it opens)', '/v1/fleet/devices?limit=100'],
      ['a page deep in the table', `/v1/fleet/devices?offset=${Math.max(0, n - 100)}&limit=100`],
      ['a page behind a target (zone=z7)', `/v1/fleet/devices?target=${encodeURIComponent('zone=z7')}&limit=100`],
      ['a page behind a live filter (phase=failed)', '/v1/fleet/devices?phase=failed&limit=100'],
      ['the counts (GET /v1/fleet/summary)', '/v1/fleet/summary'],
    ]
    const base = await measure(c, token, rows[0]?.[1] ?? '')
    console.log(`  ${n} devices, median of ${RUNS} calls each`)
    for (const [label, path] of rows) {
      const m = path === rows[0]?.[1] ? base : await measure(c, token, path)
      const ratio = m.ms / base.ms
      console.log(
        `  ${label.padEnd(46)} ${m.ms.toFixed(1).padStart(8)} ms ${(m.bytes / 1024).toFixed(1).padStart(9)} KiB   ×${ratio.toFixed(2)} of the baseline`,
      )
    }
  } finally {
    await c.close()
    await broker.close()
    await space.clean()
  }
}

for (const n of sizes) await run(n)
