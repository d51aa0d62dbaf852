import { readFileSync } from 'node:fs'
import { Command, InvalidArgumentError, Option } from 'commander'
import { pino } from 'pino'
import * as z from 'zod'
import { DeviceIdSchema, FleetError, type Role } from '@liquid-edge/protocol'
import { provisionCredential } from '../auth/credential-store.js'
import { openCredentialStore } from '../auth/open-store.js'
import { createBroker } from '../broker.js'
import { loadConfig, type BrokerConfig } from '../config.js'

type Json = Record<string, unknown>

/** Where the CLI writes and what it reads; injected so tests and other launchers can run it in-process. */
export interface CliIo {
  env: Readonly<Record<string, string | undefined>>
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM). */
  stopSignal: () => Promise<string>
}

const int = (value: string): number => {
  const n = Number(value)
  if (!Number.isInteger(n)) throw new InvalidArgumentError('not an integer')
  return n
}

/** Flags of the start command → config overrides (validated by the config schema afterwards). */
function overridesFrom(o: Record<string, unknown>): Json {
  const out: Json = {}
  const set = (path: string[], value: unknown) => {
    if (value === undefined) return
    let node = out
    for (const k of path.slice(0, -1)) node = (node[k] ??= {}) as Json
    node[path.at(-1) ?? ''] = value
  }
  set(['root'], o.root)
  set(['brokerId'], o.brokerId)
  set(['host'], o.host)
  set(['tcp', 'port'], o.mqttPort)
  if (o.mqtt === false) set(['tcp', 'enabled'], false)
  if (o.tlsCert !== undefined) set(['tls', 'enabled'], true)
  set(['tls', 'port'], o.tlsPort)
  set(['tls', 'certFile'], o.tlsCert)
  set(['tls', 'keyFile'], o.tlsKey)
  set(['tls', 'caFile'], o.tlsCa)
  if (o.wsPort !== undefined) set(['ws', 'enabled'], true)
  set(['ws', 'port'], o.wsPort)
  set(['http', 'port'], o.httpPort)
  if (o.http === false) set(['http', 'enabled'], false)
  set(['persistence'], o.persistence)
  set(['redis', 'url'], o.redisUrl)
  set(['nats', 'url'], o.natsUrl)
  set(['nats', 'stream'], o.natsStream)
  set(['credentials', 'store'], o.credentialsStore)
  set(['credentials', 'file'], o.credentialsFile)
  set(['logLevel'], o.logLevel)
  return out
}

function configFrom(io: CliIo, o: Record<string, unknown>): Readonly<BrokerConfig> {
  let file: Json = {}
  if (typeof o.config === 'string') {
    const parsed = z.record(z.string(), z.unknown()).safeParse(JSON.parse(readFileSync(o.config, 'utf8')))
    if (!parsed.success) throw new FleetError('CONFIG_INVALID', `${o.config} must hold a JSON object`)
    file = parsed.data
  }
  return loadConfig(io.env, { file, overrides: overridesFrom(o) })
}

function storeOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'JSON config file')
    .addOption(new Option('--credentials-store <kind>', 'credential store').choices(['file', 'redis']))
    .option('--credentials-file <path>', 'credentials file (file store)')
    .option('--redis-url <url>', 'Redis URL (redis store)')
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
  const program = new Command('liquid-broker')
    .description('Liquid Edge MQTT broker: per-device auth, ACL, validation, Redis clustering, NATS bridge')
    .option('-c, --config <file>', 'JSON config file (flags and LLN_* env override it)')
    .option('--root <root>', 'topic root (default lln/v1)')
    .option('--broker-id <id>', 'stable node id (set it with Redis persistence)')
    .option('--host <host>', 'bind address (default 0.0.0.0)')
    .option('--mqtt-port <port>', 'MQTT/TCP port (default 1883; 0 = any free port)', int)
    .option('--no-mqtt', 'disable the plain TCP listener')
    .option('--tls-port <port>', 'MQTT/TLS port (default 8883)', int)
    .option('--tls-cert <file>', 'TLS certificate (PEM); enables TLS')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--tls-ca <file>', 'CA for client certificates (CN = client id)')
    .option('--ws-port <port>', 'MQTT over WebSocket port; enables WebSocket', int)
    .option('--http-port <port>', '/health and /metrics port (default 9883)', int)
    .option('--no-http', 'disable /health and /metrics')
    .addOption(new Option('--persistence <kind>', 'memory (default) or redis').choices(['memory', 'redis']))
    .option('--redis-url <url>', 'Redis URL for persistence, clustering and the redis credential store')
    .option('--nats-url <url>', 'NATS server(s); enables the JetStream bridge')
    .option('--nats-stream <name>', 'JetStream stream name (default LLN)')
    .addOption(new Option('--credentials-store <kind>', 'credential store').choices(['file', 'redis']))
    .option('--credentials-file <path>', 'credentials file (default ./liquid-credentials.json)')
    .addOption(new Option('--log-level <level>', 'pino level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .action(async (o: Record<string, unknown>) => {
      const config = configFrom(io, o)
      const logger = pino({ level: config.logLevel })
      const broker = await createBroker({ config, logger })
      const signal = await io.stopSignal()
      logger.info({ signal }, 'shutting down')
      await broker.close()
    })
  program.addCommand(credentialsCommand(io))
  program.enablePositionalOptions()
  program.showHelpAfterError()
  return program
}
