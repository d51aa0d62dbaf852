import { appendFile, readFile } from 'node:fs/promises'
import * as z from 'zod'
import { DEVICE_ID_PATTERN, FleetError } from '@liquid-edge/protocol'

/** Read `id:secret` lines (blank lines and `#` comments ignored). A missing file is empty. */
export async function readCredentials(path: string): Promise<Map<string, string>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map()
    throw new FleetError('CONFIG_INVALID', `cannot read credentials file ${path}`, { cause: err })
  }
  const out = new Map<string, string>()
  text.split('\n').forEach((line, i) => {
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#')) return
    const at = trimmed.indexOf(':')
    const id = trimmed.slice(0, at)
    if (at <= 0 || !DEVICE_ID_PATTERN.test(id)) throw new FleetError('CONFIG_INVALID', `${path}:${i + 1}: expected id:secret`)
    out.set(id, trimmed.slice(at + 1))
  })
  return out
}

export interface RegisterOptions {
  controllerUrl: string
  token: string | undefined
  ids: readonly string[]
  labels: Record<string, string>
  /** Provision a broker credential per device not yet in `known`; new secrets are appended to `credentialsFile`. */
  provision: boolean
  known: Map<string, string>
  credentialsFile: string | undefined
}

async function call(o: RegisterOptions, path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(new URL(path, o.controllerUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(o.token === undefined ? {} : { authorization: `Bearer ${o.token}` }) },
    body: JSON.stringify(body),
  })
  return { status: res.status, json: await res.json().catch(() => null) }
}

const ProvisionedSchema = z.object({ secret: z.string().min(1) })

/**
 * Register simulated devices at the controller (`POST /v1/devices/bulk`, or one `POST /v1/devices`
 * each when provisioning credentials). Returns the credentials to connect with.
 * @throws FleetError `CONFIG_INVALID` when the controller refuses.
 */
export async function registerDevices(o: RegisterOptions): Promise<Map<string, string>> {
  const creds = new Map(o.known)
  if (!o.provision) {
    for (let i = 0; i < o.ids.length; i += 5000) {
      const r = await call(o, '/v1/devices/bulk', { devices: o.ids.slice(i, i + 5000).map((id) => ({ id, labels: o.labels })) })
      if (r.status >= 300)
        throw new FleetError('CONFIG_INVALID', `controller refused bulk registration (HTTP ${r.status}): ${JSON.stringify(r.json)}`)
    }
    return creds
  }
  for (const id of o.ids.filter((x) => !creds.has(x))) {
    const r = await call(o, '/v1/devices', { id, labels: o.labels, credential: true })
    const parsed = ProvisionedSchema.safeParse(r.json)
    if (r.status >= 300 || !parsed.success) {
      throw new FleetError(
        'CONFIG_INVALID',
        `controller refused to provision ${id} (HTTP ${r.status}); a device registered earlier needs its secret in the credentials file`,
      )
    }
    creds.set(id, parsed.data.secret)
    if (o.credentialsFile !== undefined) await appendFile(o.credentialsFile, `${id}:${parsed.data.secret}\n`, { mode: 0o600 })
  }
  return creds
}
