/** Reading the fleet through the controller API, for the sandbox and the e2e scenarios. */
import * as z from 'zod'
import { waitFor } from '../harness/wait.js'
import type { Sandbox } from './sandbox.js'

const DeviceViewSchema = z.looseObject({
  id: z.string(),
  labels: z.record(z.string(), z.string()),
  online: z.boolean().nullable(),
  phase: z.string().nullable(),
  active: z.string().nullable(),
  lastTelemetryAt: z.number().nullable(),
})
export type DeviceView = z.infer<typeof DeviceViewSchema>
const DeviceListSchema = z.union([
  z.array(DeviceViewSchema),
  z.looseObject({ devices: z.array(DeviceViewSchema) }).transform((r) => r.devices),
])

/** GET an API path with the sandbox token and validate the answer. */
export async function apiGet<T>(sandbox: Pick<Sandbox, 'apiUrl' | 'token'>, path: string, schema: z.ZodType<T>): Promise<T> {
  const res = await fetch(new URL(path, sandbox.apiUrl), {
    headers: { authorization: `Bearer ${sandbox.token}` },
    signal: AbortSignal.timeout(10_000),
  })
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status} ${await res.text()}`)
  return schema.parse(await res.json())
}

export function listDevices(sandbox: Pick<Sandbox, 'apiUrl' | 'token'>): Promise<DeviceView[]> {
  return apiGet(sandbox, '/v1/devices', DeviceListSchema)
}

/**
 * Wait until `count` devices are registered, online and have sent telemetry. A big fleet connects at
 * a paced rate, on a machine that may be busy: it may take as long as it keeps making progress, and
 * fails when the counts have not moved for `stallMs`.
 */
export async function waitForFleet(sandbox: Sandbox, count: number, say: (line: string) => void, stallMs = 180_000): Promise<void> {
  let last = ''
  let movedAt = Date.now()
  const outcome = await waitFor(
    async () => {
      const exited = sandbox.services.find((s) => s.child.exitCode !== null)
      if (exited !== undefined) return { exited }
      const devices = await listDevices(sandbox).catch(() => [])
      const online = devices.filter((d) => d.online === true).length
      const reporting = devices.filter((d) => d.lastTelemetryAt !== null).length
      if (online >= count && reporting >= count) return { up: true }
      const line = `${devices.length}/${count} registered, ${online} online, ${reporting} sending telemetry`
      if (line !== last) {
        say(line)
        movedAt = Date.now()
      } else if (Date.now() - movedAt > stallMs) {
        throw new Error(`the fleet made no progress for ${stallMs / 1000} s (${line}); logs in ${sandbox.dir}/logs`)
      }
      last = line
      return null
    },
    // Polled less often for big fleets: each poll lists every device.
    { timeoutMs: 3_600_000, intervalMs: Math.max(500, count / 2), what: `the fleet to come up (logs in ${sandbox.dir}/logs)` },
  )
  if ('exited' in outcome)
    throw new Error(`${outcome.exited.name} exited (code ${outcome.exited.child.exitCode}); see ${outcome.exited.logFile}`)
}

const DeviceHealthSchema = z.looseObject({ deviceId: z.string(), status: z.enum(['ok', 'degraded']) })

/**
 * The devices whose local HTTP API the sandbox serves (one per simulated fleet), by group id prefix:
 * the id each one reports on its own `GET /health` (503 while it runs no model, still with its id).
 */
export async function deviceEndpoints(
  sandbox: Pick<Sandbox, 'deviceApi'>,
  timeoutMs = 30_000,
): Promise<Record<string, { deviceId: string; url: string }>> {
  const entries = await Promise.all(
    Object.entries(sandbox.deviceApi).map(async ([group, url]) => {
      const health = await waitFor(
        async () => {
          const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) }).catch(() => null)
          return res === null ? null : DeviceHealthSchema.parse(await res.json())
        },
        { timeoutMs, intervalMs: 250, what: `the local API of fleet ${group} at ${url}` },
      )
      return [group, { deviceId: health.deviceId, url }] as const
    }),
  )
  return Object.fromEntries(entries)
}
