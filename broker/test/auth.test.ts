import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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

/** The CONNACK return code a login attempt gets (0 = accepted). */
async function connackCode(url: string, options: Parameters<typeof connectClient>[1]): Promise<number> {
  try {
    const client = await connectClient(url, options)
    await client.endAsync(true)
    return 0
  } catch (err) {
    return (err as { code?: number }).code ?? -1
  }
}

describe('authentication', () => {
  let tb: TestBroker
  beforeAll(async () => {
    tb = await startTestBroker({ config: { auth: { maxFailuresPerId: 3, maxFailuresPerAddress: 1000, takeoverLimit: 2 } } })
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
    expect(await connackCode(tb.url, credentialOptions(id, secret))).toBe(0)
    const refused = (await tb.broker.metrics.loginsRefused.get()).values
    expect(refused.find((v) => v.labels.reason === 'bad_credentials')?.value).toBeGreaterThanOrEqual(2)
    expect(refused.find((v) => v.labels.reason === 'client_id_mismatch')?.value).toBeGreaterThanOrEqual(1)
  })

  it('rate limits failed logins per client id even when the right secret follows', async () => {
    const id = uid()
    const secret = await tb.provision(id)
    for (let i = 0; i < 3; i++) expect(await connackCode(tb.url, credentialOptions(id, 'guess'))).toBe(4)
    expect(await connackCode(tb.url, credentialOptions(id, secret))).toBe(5)
  })

  it('rate limits failed logins per address when one address guesses many ids', async () => {
    await using own = await startTestBroker({ config: { auth: { maxFailuresPerId: 100, maxFailuresPerAddress: 3 } } })
    const id = uid()
    const secret = await own.provision(id)
    for (let i = 0; i < 3; i++) expect(await connackCode(own.url, credentialOptions(uid('guess'), 'guess'))).toBe(4)
    expect(await connackCode(own.url, credentialOptions(id, secret))).toBe(5)
    expect((await own.broker.metrics.loginsRefused.get()).values.find((v) => v.labels.reason === 'rate_limited')?.value).toBe(1)
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
