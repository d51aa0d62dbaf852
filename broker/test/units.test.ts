import { describe, expect, it } from 'vitest'
import { FrameGuard, LoginLimiter, TokenBucket, hashSecret, loadConfig, verifySecret } from '@liquid-edge/broker'
import { CredentialRecordSchema, isFleetError } from '@liquid-edge/protocol'
import { TEST_SCRYPT_PARAMS } from '@liquid-edge/test/harness'

describe('loadConfig', () => {
  it('applies defaults < file < env < flags when all are given', () => {
    const config = loadConfig(
      { LLN_MQTT_PORT: '2883', LLN_TLS_ENABLED: 'false', LLN_NATS_URL: 'nats://n:4222' },
      { file: { tcp: { port: 1999 }, root: 'acme/v1' }, overrides: { root: 'tenant/v1' } },
    )
    expect(config).toMatchObject({
      root: 'tenant/v1',
      tcp: { enabled: true, port: 2883 },
      http: { port: 9883 },
      nats: { url: 'nats://n:4222', stream: 'LLN' },
    })
    expect(loadConfig({})).toMatchObject({ tcp: { port: 1883 }, persistence: 'memory', credentials: { store: 'file' } })
  })

  it('refuses invalid values with CONFIG_INVALID naming them', () => {
    const attempt = () => loadConfig({ LLN_MQTT_PORT: 'abc', LLN_ROOT: 'a/+/b' })
    expect(attempt).toThrow(/tcp\.port[\s\S]*root|root[\s\S]*tcp\.port/)
    try {
      attempt()
    } catch (err) {
      expect(isFleetError(err, 'CONFIG_INVALID')).toBe(true)
    }
    expect(() => loadConfig({}, { overrides: { tls: { enabled: true } } })).toThrow(/certFile/)
  })
})

describe('FrameGuard', () => {
  it('passes packets under the limit and stops one announcing more, also across chunk boundaries', () => {
    const guard = new FrameGuard(1024)
    const small = Buffer.concat([Buffer.from([0x30, 0x05]), Buffer.alloc(5)])
    expect(guard.inspect(small)).toBe(true)
    expect(guard.inspect(Buffer.concat([small, small.subarray(0, 3)]))).toBe(true)
    expect(guard.inspect(small.subarray(3))).toBe(true)
    // remaining length 2000 = 0xD0 0x0F, split between chunks
    expect(guard.inspect(Buffer.from([0x30, 0xd0]))).toBe(true)
    expect(guard.inspect(Buffer.from([0x0f]))).toBe(false)
  })
})

describe('TokenBucket', () => {
  it('allows a burst, then the rate', () => {
    const bucket = new TokenBucket(10, 5, 0)
    expect(Array.from({ length: 7 }, () => bucket.take(0)).filter(Boolean)).toHaveLength(5)
    expect(bucket.take(50)).toBe(false) // half a token
    expect(bucket.take(100)).toBe(true)
    expect(bucket.take(100)).toBe(false)
  })
})

describe('scrypt secrets', () => {
  it('hashes in the protocol record format and verifies only the right secret', async () => {
    const hash = await hashSecret('s3cret', TEST_SCRYPT_PARAMS)
    expect(CredentialRecordSchema.safeParse({ id: 'd', role: 'device', hash, createdAt: 1_700_000_000_000 }).success).toBe(true)
    expect(await verifySecret('s3cret', hash)).toBe(true)
    expect(await verifySecret('s3cret!', hash)).toBe(false)
    expect(await verifySecret('s3cret', 'not-a-hash')).toBe(false)
  })
})

describe('LoginLimiter', () => {
  const options = { backoffBaseMs: 1000, backoffMaxMs: 8000, maxFailuresPerAddress: 0, addressWindowMs: 60_000, exemptAddresses: [] }

  it('doubles the wait of a (client id, address) pair with each failure, up to the maximum', () => {
    let now = 0
    const limiter = new LoginLimiter(options, { now: () => now })
    const waits: number[] = []
    for (let i = 0; i < 6; i++) {
      limiter.recordFailure('dev-1', '10.0.0.9')
      waits.push(limiter.waitMs('dev-1', '10.0.0.9'))
      expect(limiter.verdict('dev-1', '10.0.0.9')).toBe('backoff')
      now += waits.at(-1) ?? 0
      expect(limiter.verdict('dev-1', '10.0.0.9')).toBe('allowed')
    }
    expect(waits).toEqual([1000, 2000, 4000, 8000, 8000, 8000])
    expect(limiter.verdict('dev-1', '::ffff:10.0.0.8')).toBe('allowed')
    // Quiet for twice the maximum: the pair starts again from the base; a success clears it at once.
    now += 16_001
    limiter.recordFailure('dev-1', '::ffff:10.0.0.9')
    expect(limiter.waitMs('dev-1', '10.0.0.9')).toBe(1000)
    limiter.recordSuccess('dev-1', '10.0.0.9')
    expect(limiter.verdict('dev-1', '10.0.0.9')).toBe('allowed')
  })

  it('limits an address over all client ids for its window, except an exempt one', () => {
    let now = 0
    const limiter = new LoginLimiter({ ...options, maxFailuresPerAddress: 2, exemptAddresses: ['10.0.0.2'] }, { now: () => now })
    for (const address of ['10.0.0.1', '10.0.0.2']) for (const id of ['a', 'b']) limiter.recordFailure(id, address)
    now += 1000
    expect(limiter.verdict('c', '10.0.0.1')).toBe('address_limited')
    expect(limiter.verdict('c', '10.0.0.2')).toBe('exempt')
    expect(limiter.verdict('c', '10.0.0.3')).toBe('allowed')
    now += 60_000
    expect(limiter.verdict('c', '10.0.0.1')).toBe('allowed')
  })
})
