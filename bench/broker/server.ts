/**
 * A broker for the bench in a process of its own, so its CPU time can be read from /proc:
 * `server.ts bare` (plain aedes) or `server.ts ours <root> <devicePrefix> <devices> <subscribers> [natsUrl stream prefix]`
 * (devices `<devicePrefix>0` …, consumers `sub-0` …). Prints `READY <port>` when listening; every bench
 * credential's secret is `secret-<id>`. Exits on SIGTERM (so that `--cpu-prof` writes its profile).
 */
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { Aedes } from 'aedes'
import { MemoryCredentialStore, createBroker, hashSecret } from '@liquid-edge/broker'
import { CredentialRecordSchema } from '@liquid-edge/protocol'
import { TEST_SCRYPT_PARAMS } from '@liquid-edge/test/harness'

const [mode = 'bare', root = 'lln/v1', devicePrefix = 'pub-', devices = '1', subscribers = '0', natsUrl, stream, prefix] =
  process.argv.slice(2)

if (mode === 'bare') {
  const aedes = await Aedes.createBroker()
  const server = createServer(aedes.handle)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  console.log(`READY ${(server.address() as AddressInfo).port}`)
  process.once('SIGTERM', () => {
    aedes.close(() => {
      server.close()
      process.exit(0)
    })
  })
} else {
  const credentials = new MemoryCredentialStore()
  const add = async (id: string, role: 'device' | 'consumer') => {
    const hash = await hashSecret(`secret-${id}`, TEST_SCRYPT_PARAMS)
    await credentials.put(CredentialRecordSchema.parse({ id, role, hash, createdAt: Date.now() }))
  }
  for (let i = 0; i < Number(devices); i++) await add(`${devicePrefix}${i}`, 'device')
  for (let i = 0; i < Number(subscribers); i++) await add(`sub-${i}`, 'consumer')
  const broker = await createBroker({
    credentials,
    config: {
      root,
      host: '127.0.0.1',
      tcp: { port: 0 },
      http: { enabled: false },
      limits: { publishRatePerSec: 1e6, publishBurst: 1e6 },
      ...(natsUrl === undefined ? {} : { nats: { url: natsUrl, stream, subjectPrefix: prefix, storage: 'memory' as const } }),
    },
  })
  const deadline = Date.now() + 5000
  while (natsUrl !== undefined && broker.bridgeState !== 'connected' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  console.log(`READY ${broker.ports.tcp ?? 0}`)
  process.once('SIGTERM', () => void broker.close().then(() => process.exit(0)))
}
