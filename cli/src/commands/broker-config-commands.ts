import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Command } from 'commander'
import * as z from 'zod'
import { CliError, EXIT } from '../client.js'
import type { Context } from '../context.js'
import {
  IdentitiesAnswerSchema,
  mosquittoFiles,
  natsConfig,
  natsUnmappable,
  planUsers,
  type BrokerPlan,
} from '../broker-config/generate.js'
import { readSecrets } from '../broker-config/secrets.js'
import { choice, parsePositiveInt } from '../parse.js'

interface Options {
  credentials: string
  out: string
  allowMissing?: boolean
  account: string
  bcryptCost: string
}

/** Write `text` to `path`, readable by its owner only when it holds hashes. */
async function write(path: string, text: string, secret: boolean): Promise<void> {
  await writeFile(path, text, { mode: secret ? 0o600 : 0o644 })
  await chmod(path, secret ? 0o600 : 0o644)
}

function summary(plan: BrokerPlan): string {
  const byRole = new Map<string, number>()
  for (const u of plan.users) byRole.set(u.role, (byRole.get(u.role) ?? 0) + 1)
  return [...byRole].map(([role, n]) => `${String(n)} ${role}${n === 1 ? '' : 's'}`).join(', ')
}

const few = (ids: readonly string[]): string =>
  `${ids.slice(0, 10).join(', ')}${ids.length > 10 ? `, … (${String(ids.length)} in all)` : ''}`

/** `liquid-lln broker-config nats|mosquitto`: a third-party broker's users and permissions, from the registry. */
export function registerBrokerConfigCommands(program: Command, ctx: Context): void {
  program
    .command('broker-config <broker>')
    .description(
      "write a third-party broker's authentication and per-device permissions from the registry: nats (an accounts block) or mosquitto (password file, ACL file, settings)",
    )
    .requiredOption('--credentials <file>', 'id:secret lines, one per identity that logs in (devices, gateways, the controller, consumers)')
    .requiredOption('--out <dir>', 'directory to write to (mosquitto: passwd, acl, mosquitto.conf; nats: accounts.conf)')
    .option('--allow-missing', 'leave out identities with no secret in the file (they cannot log in) instead of refusing')
    .option('--account <name>', 'nats: the account the fleet lives in', 'LLN')
    .option('--bcrypt-cost <n>', 'nats: bcrypt cost of the password hashes (4-14; nats-server pays it at every CONNECT)', '6')
    .addHelpText(
      'after',
      `
Each device may publish only its own reported, status, telemetry, events and reply topics and
subscribe only to its own desired and cmd; a gateway also for its children; the controller has the
whole topic root; consumers read telemetry, status, events and fleet/events. Secrets are hashed
(mosquitto: PBKDF2-SHA512 as mosquitto_passwd writes; nats: bcrypt): the controller keeps only
scrypt hashes, which neither broker reads, so the secrets come from --credentials. Ids in the file
the registry does not know are left out (a removed device gets no user). Needs an admin token.

  liquid-lln broker-config mosquitto --credentials fleet.txt --out /etc/mosquitto/lln
  liquid-lln broker-config nats --credentials fleet.txt --out /etc/nats/lln   # include accounts.conf
`,
    )
    .action(async (brokerText: string, o: Options) => {
      const broker = choice(brokerText, ['nats', 'mosquitto'], '<broker>')
      const bcryptCost = parsePositiveInt(o.bcryptCost, '--bcrypt-cost')
      if (bcryptCost < 4 || bcryptCost > 14) throw new CliError('--bcrypt-cost: between 4 and 14', EXIT.USAGE, 'CLI_BAD_FLAG')
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(o.account))
        throw new CliError(`--account: '${o.account}' is not an account name ([A-Za-z0-9_-])`, EXIT.USAGE, 'CLI_BAD_FLAG')
      const secrets = await readSecrets(o.credentials)
      const api = ctx.client()
      const answer = IdentitiesAnswerSchema.safeParse(await api.untyped(api.http.GET('/v1/broker/identities')))
      if (!answer.success)
        throw new CliError(`the controller's identities do not validate:\n${z.prettifyError(answer.error)}`, EXIT.ERROR, 'CLI_BAD_ANSWER')
      const { root, identities, skipped } = answer.data
      const plan = planUsers(root, identities, secrets)
      if (plan.noSecret.length > 0 && o.allowMissing !== true)
        throw new CliError(
          `${String(plan.noSecret.length)} identities have no secret in ${o.credentials}: ${few(plan.noSecret)} (add their id:secret lines, or --allow-missing to leave them out)`,
          EXIT.USAGE,
          'CLI_MISSING_SECRETS',
        )
      if (broker === 'nats') {
        const bad = natsUnmappable(plan)
        if (bad.length > 0)
          throw new CliError(
            `nats-server's MQTT cannot map a topic level holding a '.': ${few(bad)} (rename them, or use mosquitto)`,
            EXIT.USAGE,
            'CLI_UNMAPPABLE',
          )
      }
      const dir = resolve(o.out)
      await mkdir(dir, { recursive: true })
      const files: string[] = []
      if (broker === 'mosquitto') {
        const paths = { passwd: join(dir, 'passwd'), acl: join(dir, 'acl') }
        const m = mosquittoFiles(plan, paths)
        await write(paths.passwd, m.passwd, true)
        await write(paths.acl, m.acl, false)
        await write(join(dir, 'mosquitto.conf'), m.conf, false)
        files.push(paths.passwd, paths.acl, join(dir, 'mosquitto.conf'))
      } else {
        const path = join(dir, 'accounts.conf')
        await write(path, natsConfig(plan, { account: o.account, bcryptCost }), true)
        files.push(path)
      }
      const left = { noSecret: plan.noSecret, unknown: plan.unknown, skipped }
      if (plan.unknown.length > 0)
        ctx.io.stderr(`left out ${String(plan.unknown.length)} ids the registry does not know: ${few(plan.unknown)}\n`)
      if (plan.noSecret.length > 0)
        ctx.io.stderr(`left out ${String(plan.noSecret.length)} identities without a secret (they cannot log in): ${few(plan.noSecret)}\n`)
      if (skipped > 0) ctx.io.stderr(`credential records in the store that do not validate, left out: ${String(skipped)}\n`)
      ctx.print(
        { broker, root, users: plan.users.map((u) => ({ id: u.id, role: u.role })), files, leftOut: left },
        () =>
          `${broker}: ${String(plan.users.length)} users (${summary(plan)}) under ${root}\n${files.map((f) => `wrote ${f}\n`).join('')}`,
      )
    })
}
