import { Command, Option } from 'commander'
import { pino } from 'pino'
import { DeviceIdSchema, FleetError, type Role } from '@liquid-edge/protocol'
import { provisionCredential } from '../auth/credential-store.js'
import { openCredentialStore } from '../auth/open-store.js'
import { createBroker } from '../broker.js'
import { brokerConfig, effectiveAppTopics, type BrokerConfig } from '../config.js'

/** Where the CLI writes and what it reads; injected so tests and other launchers can run it in-process. */
export interface CliIo {
  env: Readonly<Record<string, string | undefined>>
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM). */
  stopSignal: () => Promise<string>
}

/** Development mode must be impossible to miss on a terminal, not only a line in the JSON log. */
function developmentBanner(config: BrokerConfig, port: number | undefined): string {
  const rules = effectiveAppTopics(config)
    .filter((r) => r.roles.includes('anonymous'))
    .map((r) => `${r.access} ${r.pattern}`)
  return [
    '',
    '!!! DEVELOPMENT MODE: anonymous MQTT clients may connect !!!',
    `    listening on ${config.host}:${port ?? '-'}; a CONNECT without a username is accepted as 'anonymous'`,
    `    anonymous clients may use: ${rules.join(', ')} (never anything under ${config.root})`,
    '    Do not run this in production: drop --allow-anonymous.',
    '',
    '',
  ].join('\n')
}

function configFrom(io: CliIo, o: Record<string, unknown>): Readonly<BrokerConfig> {
  return brokerConfig.load({ env: io.env, flags: o })
}

function storeOptions(cmd: Command): Command {
  return brokerConfig.addOptions(cmd, ['credentials.store', 'credentials.file', 'credentials.redisPrefix', 'redis.url'])
}

async function withStore<T>(
  io: CliIo,
  o: Record<string, unknown>,
  run: (store: ReturnType<typeof openCredentialStore>) => Promise<T>,
): Promise<T> {
  const store = openCredentialStore(configFrom(io, o))
  try {
    return await run(store)
  } finally {
    await store.close()
  }
}

function credentialsCommand(io: CliIo): Command {
  const cmd = new Command('credentials').description('manage broker credentials (client id = username = device id)')
  storeOptions(cmd.command('add <id>').description('create a credential and print its secret (shown only this once)'))
    .addOption(new Option('--role <role>', 'what the client is').choices(['device', 'gateway', 'controller', 'consumer']).default('device'))
    .option('--children <ids>', 'gateway only: comma-separated device ids it speaks for')
    .action(async (id: string, o: Record<string, unknown>) => {
      const deviceId = DeviceIdSchema.parse(id)
      const children = typeof o.children === 'string' ? o.children.split(',').filter((c) => c !== '') : []
      await withStore(io, o, async (store) => {
        if ((await store.get(deviceId)) !== null)
          throw new FleetError('REGISTRY_DEVICE_EXISTS', `a credential for '${deviceId}' exists; revoke it first`)
        const { secret } = await provisionCredential(store, { id: deviceId, role: o.role as Role, children })
        io.stderr(`created credential for '${deviceId}' (${String(o.role)}); the secret is shown only once:\n`)
        io.stdout(`${secret}\n`)
      })
    })
  storeOptions(cmd.command('list').description('list credentials (ids, roles, children; never secrets)')).action(
    async (o: Record<string, unknown>) => {
      await withStore(io, o, async (store) => {
        for (const r of await store.list()) {
          const children = r.children.length > 0 ? ` children=${r.children.join(',')}` : ''
          io.stdout(`${r.id}\t${r.role}\t${new Date(r.createdAt).toISOString()}${children}\n`)
        }
      })
    },
  )
  storeOptions(cmd.command('revoke <id>').description('delete a credential; connected clients using it are disconnected')).action(
    async (id: string, o: Record<string, unknown>) => {
      await withStore(io, o, async (store) => {
        if (!(await store.remove(id))) throw new FleetError('BROKER_BAD_CREDENTIALS', `no credential for '${id}'`)
        io.stderr(`revoked '${id}'\n`)
      })
    },
  )
  return cmd
}

/** The `liquid-broker` command line. */
export function createProgram(io: CliIo): Command {
  const program = brokerConfig
    .addOptions(
      new Command('liquid-broker').description('Liquid Edge MQTT broker: per-device auth, ACL, validation, Redis clustering, NATS bridge'),
    )
    .action(async (o: Record<string, unknown>) => {
      const config = configFrom(io, o)
      const logger = pino({ level: config.logLevel })
      const broker = await createBroker({ config, logger })
      if (config.auth.allowAnonymous) io.stderr(developmentBanner(config, broker.ports.tcp))
      const signal = await io.stopSignal()
      logger.info({ signal }, 'shutting down')
      await broker.close()
    })
  program.addCommand(credentialsCommand(io))
  program.enablePositionalOptions()
  program.showHelpAfterError()
  return program
}
