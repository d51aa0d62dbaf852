import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MqttClient, type IClientOptions } from 'mqtt'
import WebSocket, { createWebSocketStream } from 'ws'
import { createTopics } from '@liquid-edge/protocol'
import { connectClient, credentialOptions, startTestBroker, waitForMessage, type TestBroker } from '@liquid-edge/test/harness'
import { telemetry, uid } from './fixtures.js'

const openssl = (...args: string[]) => promisify(execFile)('openssl', args)
let dir: string
let tb: TestBroker
let ca: Buffer
const certId = uid('tls')

/**
 * MQTT.js over a WebSocket we open ourselves: under vitest MQTT.js' own `ws://` transport picks up
 * the ESM build of `ws`, which lacks `createWebSocketStream`.
 */
async function connectWs(url: string, options: IClientOptions): Promise<MqttClient & AsyncDisposable> {
  const client = new MqttClient(() => createWebSocketStream(new WebSocket(url, 'mqtt')), { reconnectPeriod: 0, ...options })
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => {
      resolve()
    })
    client.once('error', (err) => {
      client.end(true)
      reject(err)
    })
  })
  return Object.assign(client, { [Symbol.asyncDispose]: () => client.endAsync(true) })
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate whose CN is `cn`, all signed by the CA. */
async function makeCertificates(cn: string): Promise<void> {
  const p = (name: string) => join(dir, name)
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  await openssl('req', '-x509', ...key, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '1', '-subj', '/CN=lln-test-ca')
  await writeFile(p('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
  for (const [name, subject, ext] of [
    ['server', '/CN=localhost', ['-extfile', p('san.ext')]],
    ['client', `/CN=${cn}`, []],
  ] as const) {
    await openssl('req', ...key, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', subject)
    await openssl(
      'x509',
      '-req',
      '-in',
      p(`${name}.csr`),
      '-CA',
      p('ca.crt'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-out',
      p(`${name}.crt`),
      '-days',
      '1',
      ...ext,
    )
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lln-tls-'))
  await makeCertificates(certId)
  ca = await readFile(join(dir, 'ca.crt'))
  tb = await startTestBroker({
    config: {
      tls: { enabled: true, port: 0, certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), caFile: join(dir, 'ca.crt') },
      ws: { enabled: true, port: 0 },
    },
  })
})
afterAll(async () => {
  await tb.close()
  await rm(dir, { recursive: true, force: true })
})

describe('listeners', () => {
  it('accepts a device with a secret over TLS', async () => {
    const id = uid()
    const secret = await tb.provision(id)
    await using dev = await connectClient(`mqtts://127.0.0.1:${tb.broker.ports.tls ?? 0}`, { ...credentialOptions(id, secret), ca })
    expect(dev.connected).toBe(true)
  })

  it('accepts a client certificate whose CN is the client id instead of a secret, and only for that id', async () => {
    await tb.provision(certId)
    const tls = { ca, cert: await readFile(join(dir, 'client.crt')), key: await readFile(join(dir, 'client.key')) }
    const url = `mqtts://127.0.0.1:${tb.broker.ports.tls ?? 0}`
    await using dev = await connectClient(url, { clientId: certId, ...tls })
    expect(dev.connected).toBe(true)
    const other = uid()
    await tb.provision(other)
    await expect(connectClient(url, { clientId: other, username: other, ...tls })).rejects.toMatchObject({ code: 4 })
  })

  it('serves MQTT over WebSocket with the same authentication and ACL', async () => {
    const id = uid()
    const topics = createTopics(tb.root)
    await using watcher = await tb.connect(uid('ctl'), { role: 'controller' })
    await watcher.subscribeAsync(topics.telemetry(id), { qos: 1 })
    const got = waitForMessage<{ deviceId: string }>(watcher, topics.telemetry(id))
    const secret = await tb.provision(id)
    await using dev = await connectWs(`ws://127.0.0.1:${tb.broker.ports.ws ?? 0}/mqtt`, credentialOptions(id, secret))
    await dev.publishAsync(topics.telemetry(id), telemetry(id), { qos: 1 })
    expect((await got).payload.deviceId).toBe(id)
    await expect(connectWs(`ws://127.0.0.1:${tb.broker.ports.ws ?? 0}/mqtt`, credentialOptions(id, 'wrong'))).rejects.toMatchObject({
      code: 4,
    })
  })
})
