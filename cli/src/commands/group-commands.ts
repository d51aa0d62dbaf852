import type { Command } from 'commander'
import type { Context } from '../context.js'
import { table } from '../output.js'
import { choice } from '../parse.js'

/** `liquid-lln group add|list|show|remove` and `liquid-lln target <text>`: named targets. */
export function registerGroupCommands(program: Command, ctx: Context): void {
  const group = program.command('group').description('named targets: a group is a saved selector (every verb takes its name as --target)')
  group
    .command('add <name>')
    .description('save (or replace) a group')
    .requiredOption('--selector <selector>', "label selector, e.g. env=production,slot=green ('' for every device)")
    .option('--colour <colour>', 'blue|green: one colour of a blue-green pair over the same devices (deploys stage there)')
    .action(async (name: string, o: { selector: string; colour?: string }) => {
      const api = ctx.client()
      const colour = o.colour === undefined ? {} : { colour: choice(o.colour, ['blue', 'green'], '--colour') }
      const g = await api.ok(api.http.POST('/v1/groups', { body: { name, selector: o.selector, ...colour } }))
      ctx.print(g, () => `group ${g.name}: ${g.selector === '' ? 'every device' : g.selector} (${g.devices} devices)\n`)
    })
  group
    .command('list')
    .description('saved groups with their device counts')
    .action(async () => {
      const api = ctx.client()
      const { groups } = await api.ok(api.http.GET('/v1/groups'))
      ctx.print(groups, () =>
        table(
          ['NAME', 'SELECTOR', 'COLOUR', 'DEVICES'],
          groups.map((g) => [g.name, g.selector === '' ? '(every device)' : g.selector, g.colour, g.devices]),
        ),
      )
    })
  group
    .command('show <name>')
    .description('one group and its devices')
    .action(async (name: string) => {
      const api = ctx.client()
      const g = await api.ok(api.http.GET('/v1/groups/{name}', { params: { path: { name } } }))
      ctx.print(
        g,
        () => `group ${g.name}: ${g.selector === '' ? 'every device' : g.selector}\n${g.devices.map((d) => `  ${d.id}\n`).join('')}`,
      )
    })
  group
    .command('remove <name>')
    .description('remove a group (its devices stay)')
    .action(async (name: string) => {
      const api = ctx.client()
      const res = await api.ok(api.http.DELETE('/v1/groups/{name}', { params: { path: { name } } }))
      ctx.print(res, () => `removed group ${name}\n`)
    })
  program
    .command('target <text>')
    .description('what a target means: a group, a device id, a label value or a selector, and its devices')
    .action(async (text: string) => {
      const api = ctx.client()
      const t = await api.ok(api.http.GET('/v1/targets/resolve', { params: { query: { target: text } } }))
      ctx.print(
        t,
        () =>
          `${t.how.map((h) => `${h}\n`).join('')}${t.deviceId === null ? `selector: ${t.selector === '' ? '(every device)' : t.selector}\n` : ''}${t.devices.length} devices\n`,
      )
    })
}
