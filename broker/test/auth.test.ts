import { mkdtemp, rm } from 'node:fs/promises'
import { connect as tcpConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MqttClient, type IClientOptions } from 'mqtt'
import { FileCredentialStore, RedisCredentialStore, hashSecret } from '@liquid-edge/broker'
import { credentialChannel, credentialKey } from '@liquid-edge/protocol'
import {
  TEST_SCRYPT_PARAMS,
  connectClient,
  credentialOptions,
  deleteKeys,
  provisionTestCredential,
  redisClient,
  startTestBroker,
  uniquePrefix,
  waitFor,
  type TestBroker,
} from '@liquid-edge/test/harness'
import { uid, closedEvent } from './fixtures.js'

/**
 * The CONNACK return code a login attempt gets (0 = accepted), from a loopback address of its own
 * (`127.0.0.x`: every one of them reaches a broker on 127.0.0.1), as from another machine.
 */
async function connackCode(url: string, options: IClientOptions, from = '127.0.0.1'): Promise<number> {
  const { port } = new URL(url)
  const client = new MqttClient(() => tcpConnect({ host: '127.0.0.1', port: Number(port), localAddress: from }), {
    ...options,
    reconnectPeriod: 0,
  })
  try {
    return await new Promise<number>((resolve) => {
      client.once('connect', () => {
        resolve(0)
      })
      client.once('error', (err) => {
        resolve((err as { code?: number }).code ?? -1)
      })
    })
  } finally {
    await client.endAsync(true)
  }
}

async function refusals(tb: TestBroker, reason: string): Promise<number> {
  return (await tb.broker.metrics.loginsRefused.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0
}

describe('authentication', () => {
  let tb: TestBroker
  beforeAll(async () => {
    tb = await startTestBroker({ config: { auth: { maxFailuresPerAddress: 1000, takeoverLimit: 2 } } })
  })
  afterAll(async () => {
    await tb.close()
  })

  it('refuses a wrong secret, an unknown client and a client id that is not the username', async () => {
    const id = uid()
    const secret = await tb.provision(id)
    expect(await connackCode(tb.url, credentialOptions(id, 'wrong-secret'))).toBe(4)
    expect(await connackCode(tb.url, credentialOptions(uid('ghost'), secret))).toBe(4)
    expect(await connackCode(tb.url, { clientId: uid('other'), username: id, password: secret })).toBe(2)
    expect(await connackCode(tb.url, credentialOptions(id, secret), '127.0.0.7')).toBe(0) // this address never failed
    const refused = (await tb.broker.metrics.loginsRefused.get()).values
    expect(refused.find((v) => v.labels.reason === 'bad_credentials')?.value).toBeGreaterThanOrEqual(2)
    expect(refused.find((v) => v.labels.reason === 'client_id_mismatch')?.value).toBeGreaterThanOrEqual(1)
  })

  it('lets a device connect with its secret while its id is under a password-guessing attack from another address', async () => {
    await using own = await startTestBroker({ config: { auth: { backoffBaseMs: 60_000, maxFailuresPerAddress: 1000 } } })
    const id = uid()
    const secret = await own.provision(id)
    const attacker = '127.0.0.2'
    expect(await connackCode(own.url, credentialOptions(id, 'guess-1'), attacker)).toBe(4)
    // The attacker's pair (id, address) now waits a minute, right secret or not: no scrypt is run for it.
    for (let i = 2; i <= 20; i++) expect(await connackCode(own.url, credentialOptions(id, `guess-${i}`), attacker)).toBe(5)
    expect(await connackCode(own.url, credentialOptions(id, secret), attacker)).toBe(5)
    expect(await refusals(own, 'backoff')).toBe(20)
    // The device, from its own address, is not held back by what others did with its id.
    expect(await connackCode(own.url, credentialOptions(id, secret), '127.0.0.3')).toBe(0)
    expect(await connackCode(own.url, credentialOptions(id, secret), '127.0.0.3')).toBe(0)
  })

  it('refuses an address that fails for many client ids, counted by reason, unless it is listed as exempt', async () => {
    const scanner = '127.0.0.4'
    const nat = '127.0.0.5'
    await using own = await startTestBroker({ config: { auth: { maxFailuresPerAddress: 3, exemptAddresses: [nat] } } })
    const id = uid()
    const secret = await own.provision(id)
    for (const from of [scanner, nat]) {
      for (let i = 0; i < 3; i++) expect(await connackCode(own.url, credentialOptions(uid('guess'), 'guess'), from)).toBe(4)
    }
    expect(await connackCode(own.url, credentialOptions(id, secret), scanner)).toBe(5)
    expect(await refusals(own, 'address_limited')).toBe(1)
    // Behind the exempt address the device connects; the exemption is counted, not silent.
    expect(await connackCode(own.url, credentialOptions(id, secret), nat)).toBe(0)
    expect(await own.broker.metrics.loginsExempted.get()).toMatchObject({ values: [{ value: 1 }] })
    // And an address that never failed is not refused.
    expect(await connackCode(own.url, credentialOptions(id, secret), '127.0.0.6')).toBe(0)
  })

  it('lets a new connection take over a client id but refuses a flapping one', async () => {
    const id = uid()
    const secret = await tb.provision(id)
    const first = await connectClient(tb.url, credentialOptions(id, secret))
    const firstClosed = closedEvent(first)
    const second = await connectClient(tb.url, credentialOptions(id, secret))
    await firstClosed // [MQTT-3.1.4-2] the older connection is closed
    const third = await connectClient(tb.url, credentialOptions(id, secret))
    // two takeovers inside the window: the next duplicate is refused and the live one stays
    expect(await connackCode(tb.url, credentialOptions(id, secret))).toBe(2)
    expect(third.connected).toBe(true)
    await Promise.all([first.endAsync(true), second.endAsync(true), third.endAsync(true)])
  })

  it('lets controller replicas share one credential under their own client ids, never a device', async () => {
    const ctl = uid('ctl')
    const secret = await tb.provision(ctl, 'controller')
    const replica = (name: string) => ({ clientId: `${ctl}:${name}`, username: ctl, password: secret })
    const a = await connectClient(tb.url, replica('a'))
    const b = await connectClient(tb.url, replica('b'))
    // Both stay connected: neither took the other's session over.
    expect(await connackCode(tb.url, replica('c'))).toBe(0)
    expect([a.connected, b.connected]).toEqual([true, true])
    expect(await connackCode(tb.url, { ...replica('d'), password: 'wrong' })).toBe(4)
    expect(await connackCode(tb.url, { ...replica(''), clientId: `${ctl}:` })).toBe(2)
    // A device's credential is one session: no replicas.
    const dev = uid()
    const devSecret = await tb.provision(dev)
    expect(await connackCode(tb.url, { clientId: `${dev}:b`, username: dev, password: devSecret })).toBe(2)
    // Revoking the credential disconnects every replica.
    const closed = [closedEvent(a), closedEvent(b)]
    await tb.credentials.remove(ctl)
    await Promise.all(closed)
    await Promise.all([a.endAsync(true), b.endAsync(true)])
  })

  it('disconnects a connected client when its credential is revoked', async () => {
    const id = uid()
    await using dev = await tb.connect(id)
    const closed = closedEvent(dev)
    await tb.credentials.remove(id)
    await closed
    expect(await connackCode(tb.url, credentialOptions(id, 'anything'))).toBe(4)
  })
})

describe('credential stores', () => {
  it('file store: a revoke by another process disconnects the client', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lln-cred-'))
    try {
      const file = join(dir, 'credentials.json')
      const cli = new FileCredentialStore(file) // what `liquid-broker credentials` uses
      const id = uid()
      const secret = await provisionTestCredential(cli, id)
      await using tb = await startTestBroker({ credentials: new FileCredentialStore(file) })
      const dev = await connectClient(tb.url, credentialOptions(id, secret))
      const closed = closedEvent(dev)
      expect(await cli.remove(id)).toBe(true)
      await closed
      await dev.endAsync(true)
      expect((await cli.list()).map((r) => r.id)).toEqual([])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('redis store: reads records the controller writes and reacts to revocation on the change channel', async () => {
    const redis = redisClient()
    const prefix = uniquePrefix('cred')
    const store = new RedisCredentialStore({ redis, prefix })
    try {
      const id = uid()
      const secret = 'controller-provisioned-secret'
      // exactly what the controller's registry writes (protocol/src/credentials.ts)
      const record = { id, role: 'device', children: [], hash: await hashSecret(secret, TEST_SCRYPT_PARAMS), createdAt: Date.now() }
      await redis.set(credentialKey(id, prefix), JSON.stringify(record))
      await using tb = await startTestBroker({ credentials: store })
      await store.ready()
      const dev = await connectClient(tb.url, credentialOptions(id, secret))
      const closed = closedEvent(dev)
      await redis.del(credentialKey(id, prefix))
      await redis.publish(credentialChannel(prefix), id)
      await closed
      await dev.endAsync(true)
      await waitFor(async () => (await store.list()).length === 0)
    } finally {
      await store.close()
      await deleteKeys(redis, prefix)
      await redis.quit()
    }
  })
})
