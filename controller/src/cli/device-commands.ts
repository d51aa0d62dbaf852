import { readFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { parseLabels } from '../registry/selector.js'
import { CliError, EXIT } from './client.js'
import type { Context } from './context.js'
import { ago, table } from './output.js'
import { parseModelRef } from './parse.js'
import type { DeviceView } from '../api/views.js'

function labelsText(l: Record<string, string>): string {
  return Object.entries(l)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
}

function labelsFlag(text: string): Record<string, string> {
  try {
    return parseLabels(text)
  } catch (err) {
    throw new CliError(`--labels: ${(err as Error).message}`, EXIT.USAGE, 'CLI_BAD_FLAG')
  }
}

export function deviceTable(devices: readonly DeviceView[]): string {
  return table(
    ['ID', 'LABELS', 'ONLINE', 'PHASE', 'ACTIVE', 'STANDBY', 'GEN', 'TELEMETRY', 'ROLLOUT'],
    devices.map((d) => [
      d.id,
      labelsText(d.labels),
      d.online === null ? '?' : d.online ? 'yes' : 'no',
      d.phase,
      d.active,
      d.standby,
      d.generation,
      ago(d.lastTelemetryAt),
      d.rollout,
    ]),
  )
}

export function registerDeviceCommands(program: Command, ctx: Context): void {
  const device = program.command('device').description('provision and inspect devices')
  device
    .command('add <id>')
    .description('register a device and provision its broker credential (the secret is printed once)')
    .option('--labels <labels>', 'labels, e.g. env=staging,hw=stm32h743', '')
    .option('--no-credential', 'register without a broker credential (gateway children)')
    .action(async (id: string, o: { labels: string; credential: boolean }) => {
      const res = await ctx.client().call<{ device: { id: string }; secret: string | null }>('POST', '/v1/devices', {
        id,
        labels: labelsFlag(o.labels),
        credential: o.credential,
      })
      ctx.print(res, () => `registered ${res.device.id}\n${res.secret === null ? '' : `secret (shown once): ${res.secret}\n`}`)
    })
  device
    .command('list')
    .description('list devices with their live state')
    .option('--target <selector>', 'label selector, e.g. env=production,hw in (stm32h743,rpi4),!canary')
    .action(async (o: { target?: string }) => {
      const q = o.target === undefined ? '' : `?target=${encodeURIComponent(o.target)}`
      const res = await ctx.client().call<{ devices: DeviceView[] }>('GET', `/v1/devices${q}`)
      ctx.print(res.devices, () => deviceTable(res.devices))
    })
  device
    .command('show <id>')
    .description('one device and its live state')
    .action(async (id: string) => {
      const d = await ctx.client().call<DeviceView>('GET', `/v1/devices/${encodeURIComponent(id)}`)
      ctx.print(
        d,
        () =>
          `${Object.entries(d)
            .map(
              ([k, v]) =>
                `${k.padEnd(16)}${typeof v === 'object' && v !== null ? labelsText(v as Record<string, string>) : String(v ?? '-')}`,
            )
            .join('\n')}\n`,
      )
    })
  device
    .command('label <id>')
    .description('set and remove labels')
    .option('--set <labels>', 'labels to set, k=v,...', '')
    .option('--remove <keys>', 'label keys to remove, comma-separated', '')
    .action(async (id: string, o: { set: string; remove: string }) => {
      const remove = o.remove === '' ? [] : o.remove.split(',').map((s) => s.trim())
      const d = await ctx.client().call<{ id: string; labels: Record<string, string> }>('PATCH', `/v1/devices/${encodeURIComponent(id)}`, {
        set: labelsFlag(o.set),
        remove,
      })
      ctx.print(d, () => `${d.id}: ${labelsText(d.labels)}\n`)
    })
  device
    .command('remove <id>')
    .description('remove a device: revoke its credential, clear its retained topics')
    .action(async (id: string) => {
      const res = await ctx.client().call('DELETE', `/v1/devices/${encodeURIComponent(id)}`)
      ctx.print(res, () => `removed ${id}\n`)
    })
}

interface ModelRow {
  name: string
  version: string
  sha256: string
  size: number
  createdAt: number
}

/** Read a package file. @throws {CliError} exit 3 when missing */
export async function readPackage(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path))
  } catch {
    throw new CliError(`cannot read model file '${path}'`, EXIT.NOT_FOUND, 'CLI_NO_FILE')
  }
}

export function registerModelCommands(program: Command, ctx: Context): void {
  const model = program.command('model').description('the model store')
  model
    .command('push <file>')
    .description('verify and store a .liquid package')
    .action(async (file: string) => {
      const res = await ctx.client().call<{ model: ModelRow; created: boolean }>('POST', '/v1/models', await readPackage(file))
      ctx.print(
        res,
        () => `${res.created ? 'stored' : 'already stored'} ${res.model.name}@${res.model.version} sha256 ${res.model.sha256}\n`,
      )
    })
  model.command('list').action(async () => {
    const res = await ctx.client().call<{ models: ModelRow[] }>('GET', '/v1/models')
    ctx.print(res.models, () =>
      table(
        ['NAME', 'VERSION', 'SIZE', 'SHA256'],
        res.models.map((m) => [m.name, m.version, m.size, m.sha256.slice(0, 16)]),
      ),
    )
  })
  model
    .command('inspect <model>')
    .description('name@version: the manifest')
    .action(async (spec: string) => {
      const { name, version } = parseModelRef(spec)
      const res = await ctx
        .client()
        .call<Record<string, unknown>>('GET', `/v1/models/${encodeURIComponent(name)}/${encodeURIComponent(version)}`)
      ctx.print(res, () => `${JSON.stringify(res, null, 2)}\n`)
    })
  model
    .command('delete <model>')
    .description('name@version (refused while a device or an active rollout uses it)')
    .action(async (spec: string) => {
      const { name, version } = parseModelRef(spec)
      const res = await ctx.client().call('DELETE', `/v1/models/${encodeURIComponent(name)}/${encodeURIComponent(version)}`)
      ctx.print(res, () => `deleted ${spec}\n`)
    })
}
