import type { Command } from 'commander'
import type { Context } from '../context.js'
import { readPackage } from '../files.js'
import { ago, table } from '../output.js'
import { TARGET_HELP, parseLabels, parseModelRef } from '../parse.js'
import type { ApiAnswer } from '../client.js'

function labelsText(l: Record<string, string>): string {
  return Object.entries(l)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')
}

/** A device with its live state, as the API answers it. */
export type DeviceView = ApiAnswer<'/v1/devices/{id}', 'get'>

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
      const api = ctx.client()
      const res = await api.ok(
        api.http.POST('/v1/devices', { body: { id, labels: parseLabels(o.labels, '--labels'), credential: o.credential } }),
      )
      ctx.print(res, () => `registered ${res.device.id}\n${res.secret === null ? '' : `secret (shown once): ${res.secret}\n`}`)
    })
  device
    .command('list')
    .description('list devices with their live state')
    .option('--target <target>', TARGET_HELP)
    .action(async (o: { target?: string }) => {
      const api = ctx.client()
      const res = await api.ok(api.http.GET('/v1/devices', { params: { query: o.target === undefined ? {} : { target: o.target } } }))
      ctx.print(res.devices, () => deviceTable(res.devices))
    })
  device
    .command('show <id>')
    .description('one device and its live state')
    .action(async (id: string) => {
      const api = ctx.client()
      const d = await api.ok(api.http.GET('/v1/devices/{id}', { params: { path: { id } } }))
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
      const api = ctx.client()
      const d = await api.ok(
        api.http.PATCH('/v1/devices/{id}', { params: { path: { id } }, body: { set: parseLabels(o.set, '--set'), remove } }),
      )
      ctx.print(d, () => `${d.id}: ${labelsText(d.labels)}\n`)
    })
  device
    .command('remove <id>')
    .description('remove a device: revoke its credential, clear its retained topics')
    .action(async (id: string) => {
      const api = ctx.client()
      const res = await api.ok(api.http.DELETE('/v1/devices/{id}', { params: { path: { id } } }))
      ctx.print(res, () => `removed ${id}\n`)
    })
}

export function registerModelCommands(program: Command, ctx: Context): void {
  const model = program.command('model').description('the model store')
  model
    .command('push <file>')
    .description('verify and store a .liquid package')
    .action(async (file: string) => {
      const res = await ctx.client().pushModel(await readPackage(file))
      ctx.print(
        res,
        () => `${res.created ? 'stored' : 'already stored'} ${res.model.name}@${res.model.version} sha256 ${res.model.sha256}\n`,
      )
    })
  model.command('list').action(async () => {
    const api = ctx.client()
    const res = await api.ok(api.http.GET('/v1/models'))
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
      const api = ctx.client()
      const res = await api.ok(api.http.GET('/v1/models/{name}/{version}', { params: { path: { name, version } } }))
      ctx.print(res, () => `${JSON.stringify(res, null, 2)}\n`)
    })
  model
    .command('delete <model>')
    .description('name@version (refused while a device or an active rollout uses it)')
    .action(async (spec: string) => {
      const { name, version } = parseModelRef(spec)
      const api = ctx.client()
      const res = await api.ok(api.http.DELETE('/v1/models/{name}/{version}', { params: { path: { name, version } } }))
      ctx.print(res, () => `deleted ${spec}\n`)
    })
}
