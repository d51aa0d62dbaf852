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

/** Wait until `count` devices are registered, online and have sent telemetry. */
export async function waitForFleet(sandbox: Sandbox, count: number, say: (line: string) => void, timeoutMs = 180_000): Promise<void> {
  let last = ''
  const outcome = await waitFor(
    async () => {
      const exited = sandbox.services.find((s) => s.child.exitCode !== null)
      if (exited !== undefined) return { exited }
      const devices = await listDevices(sandbox).catch(() => [])
      const online = devices.filter((d) => d.online === true).length
      const reporting = devices.filter((d) => d.lastTelemetryAt !== null).length
      if (online >= count && reporting >= count) return { up: true }
      const line = `${devices.length}/${count} registered, ${online} online, ${reporting} sending telemetry`
      if (line !== last) say(line)
      last = line
      return null
    },
    { timeoutMs, intervalMs: 500, what: `the fleet to come up (logs in ${sandbox.dir}/logs)` },
  )
  if ('exited' in outcome)
    throw new Error(`${outcome.exited.name} exited (code ${outcome.exited.child.exitCode}); see ${outcome.exited.logFile}`)
}
