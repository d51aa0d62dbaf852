/**
 * The fake fleet of bench/rollout, in its own process (so that devices and the controller use
 * both cores): starts N FakeDevices and reports aggregate counts to the parent every 20 ms.
 */
import { FakeDevice } from '@liquid-edge/test/harness'

const { BENCH_URL = '', BENCH_ROOT = '', BENCH_N = '0', BENCH_MODEL = '{}' } = process.env
const n = Number(BENCH_N)
const initialModel = JSON.parse(BENCH_MODEL) as { name: string; version: string; sha256: string }
const devices = Array.from(
  { length: n },
  (_, i) => new FakeDevice({ url: BENCH_URL, root: BENCH_ROOT, deviceId: `b-${i}`, initialModel, download: true }),
)
for (let i = 0; i < devices.length; i += 250) await Promise.all(devices.slice(i, i + 250).map((d) => d.start()))

function counts() {
  const out = { connected: devices.length, received: 0, desired: 0, active: {} as Record<string, number>, downloads: 0 }
  for (const d of devices) {
    if (d.received > 0) out.received++
    if (d.desiredSeen.length > 0) out.desired++
    out.downloads += d.downloads.length
    if (d.phase === 'active' || d.phase === 'idle') {
      const v = d.active?.version ?? 'none'
      out.active[v] = (out.active[v] ?? 0) + 1
    }
  }
  return out
}
const timer = setInterval(() => process.send?.(counts()), 20)
process.on('message', (m: unknown) => {
  if (m !== 'stop') return
  clearInterval(timer)
  void Promise.all(devices.map((d) => d.stop())).then(() => process.exit(0))
})
process.send?.(counts())
