import type { IClientOptions, MqttClient } from 'mqtt'
import {
  MemoryCredentialStore,
  createBroker,
  provisionCredential,
  type BrokerConfigInput,
  type BrokerOptions,
  type CredentialStore,
  type LiquidBroker,
  type ScryptParams,
} from '@liquid-edge/broker'
import type { Role } from '@liquid-edge/protocol'
import { connectClient, uniqueRoot } from './mqtt.js'

/** scrypt parameters cheap enough for tests that connect hundreds of clients (production uses protocol's SCRYPT_PARAMS). */
export const TEST_SCRYPT_PARAMS: ScryptParams = Object.freeze({ N: 1024, r: 8, p: 1, keyLength: 32, saltLength: 16 })

/** Create a credential in `store` and return its secret (cheap scrypt parameters). */
export async function provisionTestCredential(
  store: CredentialStore,
  id: string,
  role: Role = 'device',
  children: readonly string[] = [],
): Promise<string> {
  const { secret } = await provisionCredential(store, { id, role, children }, { params: TEST_SCRYPT_PARAMS })
  return secret
}

/** MQTT.js options that log in as `id` (client id = username = id). */
export function credentialOptions(id: string, secret: string): IClientOptions {
  return { clientId: id, username: id, password: secret }
}

export interface TestBroker extends AsyncDisposable {
  readonly broker: LiquidBroker
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** Base URL of `/health` and `/metrics`. */
  readonly httpUrl: string
  /** The topic root the broker enforces (a unique one unless given). */
  readonly root: string
  readonly credentials: CredentialStore
  /** Create a credential and return its secret. */
  provision(id: string, role?: Role, children?: readonly string[]): Promise<string>
  /** Provision `id` (unless a secret is given) and connect an MQTT.js client as it. */
  connect(
    id: string,
    options?: IClientOptions & { secret?: string; role?: Role; children?: readonly string[] },
  ): Promise<MqttClient & AsyncDisposable>
  close(): Promise<void>
}

/**
 * Our authenticating broker (`@liquid-edge/broker`) on 127.0.0.1, port 0, with in-memory
 * credentials and a unique topic root: for agent, controller and e2e tests that need the real
 * ACL. `await using b = await startTestBroker()`.
 */
export async function startTestBroker(
  options: { root?: string; config?: BrokerConfigInput; credentials?: CredentialStore; logger?: BrokerOptions['logger'] } = {},
): Promise<TestBroker> {
  const root = options.root ?? uniqueRoot()
  const credentials = options.credentials ?? new MemoryCredentialStore()
  const { config = {} } = options
  const broker = await createBroker({
    credentials,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    config: {
      ...config,
      root,
      host: '127.0.0.1',
      tcp: { port: 0, ...config.tcp },
      http: { port: 0, ...config.http },
      credentials: { store: 'memory', ...config.credentials },
    },
  })
  const port = broker.ports.tcp ?? 0
  const url = `mqtt://127.0.0.1:${port}`
  const provision = (id: string, role: Role = 'device', children: readonly string[] = []) =>
    provisionTestCredential(credentials, id, role, children)
  const close = () => broker.close()
  return {
    broker,
    url,
    port,
    httpUrl: `http://127.0.0.1:${broker.ports.http ?? 0}`,
    root,
    credentials,
    provision,
    async connect(id, { secret, role, children, ...mqttOptions } = {}) {
      const s = secret ?? (await provision(id, role, children))
      return connectClient(url, { ...credentialOptions(id, s), ...mqttOptions })
    },
    close,
    [Symbol.asyncDispose]: close,
  }
}
