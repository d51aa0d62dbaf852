import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MAX_PAYLOAD_BYTES, createCodec, decode, encode, type DecodeResult, type MessageType } from '@liquid-edge/protocol'
import { DEVICE, SAMPLES, TOPIC_OF, sampleJson } from './fixtures.js'

const TYPES = Object.keys(SAMPLES) as MessageType[]
const text = (v: unknown) => JSON.stringify(v)
function errorCode(r: DecodeResult): string | undefined {
  return r.ok ? undefined : r.error.code
}

describe('codec round trip', () => {
  it.each(TYPES)('decode(encode(%s)) returns the same message with defaults filled in', (type) => {
    const bytes = encode(SAMPLES[type])
    const r = decode(TOPIC_OF[type], bytes)
    expect(r.ok, JSON.stringify(r)).toBe(true)
    if (!r.ok) return
    expect(r.message).toMatchObject(SAMPLES[type])
    // Re-encoding the decoded message is stable: nothing is lost on the way through.
    expect(decode(TOPIC_OF[type], encode(r.message as never))).toEqual(r)
  })

  it('decode accepts a string payload as well as bytes', () => {
    expect(decode(TOPIC_OF.telemetry, text(SAMPLES.telemetry)).ok).toBe(true)
  })

  it('decode ignores fields it does not know (tolerant reader)', () => {
    const msg = sampleJson('telemetry')
    msg.futureField = { x: 1 }
    ;(msg.body as Record<string, unknown>).gpuTemperatureC = 70
    const r = decode(TOPIC_OF.telemetry, text(msg))
    expect(r.ok).toBe(true)
    if (r.ok) {
      expect(r.message).not.toHaveProperty('futureField')
      expect(r.message.body).not.toHaveProperty('gpuTemperatureC')
    }
  })

  it('decode accepts an older agent window with latency quantiles only', () => {
    const msg = sampleJson('telemetry')
    const { latency: _l, temperature: _t, agreement: _a, hardware: _h, ...body } = msg.body as Record<string, unknown>
    const r = decode(TOPIC_OF.telemetry, text({ ...msg, body: { ...body, energy: { avgMw: 210.5, perInferenceMj: null } } }))
    expect(r.ok, JSON.stringify(r)).toBe(true)
  })

  it('a codec under another root reads only its own topics', () => {
    const codec = createCodec({ root: 'tenant-a/v1' })
    expect(codec.decode(`tenant-a/v1/devices/${DEVICE}/telemetry`, encode(SAMPLES.telemetry)).ok).toBe(true)
    expect(errorCode(codec.decode(TOPIC_OF.telemetry, encode(SAMPLES.telemetry)))).toBe('PROTO_INVALID_TOPIC')
  })

  it('encode refuses an invalid message with PROTO_INVALID_PAYLOAD', () => {
    const bad = { ...SAMPLES.status, body: { online: 'yes', session: 1 } }
    expect(() => encode(bad as never)).toThrow(expect.objectContaining({ code: 'PROTO_INVALID_PAYLOAD' }) as Error)
  })
})

describe('timestamps are epoch milliseconds', () => {
  it('a window start in seconds is refused with PROTO_TIME_UNIT naming the field and the unit', () => {
    const msg = sampleJson('telemetry')
    ;(msg.body as Record<string, unknown>).windowStart = Math.floor(Date.now() / 1000)
    const r = decode(TOPIC_OF.telemetry, text(msg))
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.error.code).toBe('PROTO_TIME_UNIT')
    expect(r.error.issues).toEqual([{ path: 'body.windowStart', message: expect.stringContaining('milliseconds') as string }])
  })
})

describe('decode refuses bad input with its error code', () => {
  const telemetryWith = (patch: (body: Record<string, unknown>) => void) => {
    const msg = sampleJson('telemetry')
    patch(msg.body as Record<string, unknown>)
    return text(msg)
  }
  const cases: [string, string, Uint8Array | string, string][] = [
    ['wrong types', TOPIC_OF.telemetry, telemetryWith((b) => (b.inferences = '120')), 'PROTO_INVALID_PAYLOAD'],
    ['a missing field', TOPIC_OF.telemetry, telemetryWith((b) => delete b.seq), 'PROTO_INVALID_PAYLOAD'],
    ['a negative count', TOPIC_OF.telemetry, telemetryWith((b) => (b.errors = -1)), 'PROTO_INVALID_PAYLOAD'],
    [
      'a histogram that disagrees with its count',
      TOPIC_OF.telemetry,
      telemetryWith((b) => ((b.latency as { count: number }).count = 4)),
      'PROTO_INVALID_PAYLOAD',
    ],
    [
      'more agreements than comparisons',
      TOPIC_OF.telemetry,
      telemetryWith((b) => (b.agreement = { compared: 1, agreed: 2 })),
      'PROTO_INVALID_PAYLOAD',
    ],
    ['a fractional count', TOPIC_OF.telemetry, telemetryWith((b) => (b.inferences = 1.5)), 'PROTO_INVALID_PAYLOAD'],
    [
      'a huge number (1e400 parses to Infinity)',
      TOPIC_OF.telemetry,
      text(sampleJson('telemetry')).replace('"seq":42', '"seq":1e400'),
      'PROTO_INVALID_PAYLOAD',
    ],
    [
      'an unsafe integer',
      TOPIC_OF.telemetry,
      text(sampleJson('telemetry')).replace('"seq":42', '"seq":9007199254740993'),
      'PROTO_INVALID_PAYLOAD',
    ],
    ['NaN (not JSON)', TOPIC_OF.telemetry, text(sampleJson('telemetry')).replace('"seq":42', '"seq":NaN'), 'PROTO_INVALID_JSON'],
    ['Infinity (not JSON)', TOPIC_OF.telemetry, text(sampleJson('telemetry')).replace('"seq":42', '"seq":Infinity'), 'PROTO_INVALID_JSON'],
    ['non-JSON', TOPIC_OF.telemetry, 'hello', 'PROTO_INVALID_JSON'],
    ['an empty payload', TOPIC_OF.status, '', 'PROTO_INVALID_JSON'],
    ['a JSON array', TOPIC_OF.status, '[1,2]', 'PROTO_INVALID_PAYLOAD'],
    ['a JSON scalar', TOPIC_OF.status, '42', 'PROTO_INVALID_PAYLOAD'],
    ['invalid UTF-8', TOPIC_OF.status, new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), 'PROTO_INVALID_UTF8'],
    ['a truncated UTF-8 sequence', TOPIC_OF.status, new Uint8Array([0x7b, 0x22, 0xe2, 0x82]), 'PROTO_INVALID_UTF8'],
    [
      'an unknown command kind',
      TOPIC_OF.command,
      text({ ...sampleJson('command'), body: { kind: 'format-disk', expiresAt: 1 } }),
      'PROTO_UNKNOWN_COMMAND',
    ],
    ['a window start in seconds', TOPIC_OF.telemetry, telemetryWith((b) => (b.windowStart = 1_700_000_000)), 'PROTO_TIME_UNIT'],
    ['an envelope ts in seconds', TOPIC_OF.status, text({ ...sampleJson('status'), ts: 1_700_000_000 }), 'PROTO_TIME_UNIT'],
    ['a ts beyond the year 2100', TOPIC_OF.status, text({ ...sampleJson('status'), ts: 5_000_000_000_000 }), 'PROTO_TIME_UNIT'],
    [
      'a command expiry in seconds',
      TOPIC_OF.command,
      text({ ...sampleJson('command'), body: { kind: 'ping', expiresAt: 1_700_000_000 } }),
      'PROTO_TIME_UNIT',
    ],
    ['a window of 0.5 ms', TOPIC_OF.telemetry, telemetryWith((b) => (b.windowMs = 0.5)), 'PROTO_INVALID_PAYLOAD'],
    ['a command without expiry', TOPIC_OF.command, text({ ...sampleJson('command'), body: { kind: 'ping' } }), 'PROTO_INVALID_PAYLOAD'],
    [
      'a profile with both duration and samples',
      TOPIC_OF.command,
      text({
        ...sampleJson('command'),
        body: { kind: 'profile', metric: 'energy', durationMs: 10, samples: 5, expiresAt: 2_000_000_000_000 },
      }),
      'PROTO_INVALID_PAYLOAD',
    ],
    ['an unsupported schema version', TOPIC_OF.status, text({ ...sampleJson('status'), v: 2 }), 'PROTO_UNSUPPORTED_VERSION'],
    ['the wrong message type for the topic', TOPIC_OF.status, text(sampleJson('telemetry')), 'PROTO_WRONG_TYPE'],
    ['a device id that differs from the topic', `lln/v1/devices/other-device/status`, text(sampleJson('status')), 'PROTO_DEVICE_MISMATCH'],
    ['a __proto__ key', TOPIC_OF.status, text(sampleJson('status')).replace('{', '{"__proto__":{"admin":true},'), 'PROTO_FORBIDDEN_KEY'],
    [
      'a constructor key',
      TOPIC_OF.status,
      text(sampleJson('status')).replace('"body":{', '"body":{"constructor":{"prototype":1},'),
      'PROTO_FORBIDDEN_KEY',
    ],
    [
      'a \\u-escaped __proto__ key',
      TOPIC_OF.status,
      text(sampleJson('status')).replace('{', '{"\\u005f_proto__":{"admin":true},'),
      'PROTO_FORBIDDEN_KEY',
    ],
    ['an oversized payload', TOPIC_OF.telemetry, `{"pad":"${'x'.repeat(MAX_PAYLOAD_BYTES)}"}`, 'PROTO_PAYLOAD_TOO_LARGE'],
    ['a topic outside the protocol', 'lln/v1/devices/edge-0001/firmware', text(sampleJson('status')), 'PROTO_INVALID_TOPIC'],
    ['a topic with a wildcard device id', 'lln/v1/devices/+/status', text(sampleJson('status')), 'PROTO_INVALID_TOPIC'],
    ['a $-prefixed topic', '$SYS/lln/v1/devices/edge-0001/status', text(sampleJson('status')), 'PROTO_INVALID_TOPIC'],
    ['a topic with an extra level', 'lln/v1/devices/edge-0001/status/x', text(sampleJson('status')), 'PROTO_INVALID_TOPIC'],
  ]
  it.each(cases)('refuses %s', (_name, topic, payload, code) => {
    expect(errorCode(decode(topic, payload))).toBe(code)
  })

  it('reports where the schema was broken', () => {
    const r = decode(
      TOPIC_OF.telemetry,
      telemetryWith((b) => (b.errors = -1)),
    )
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.error.issues).toEqual([expect.objectContaining({ path: 'body.errors' })])
  })

  it('a __proto__ key never reaches the prototype of anything decoded', () => {
    decode(TOPIC_OF.status, '{"__proto__":{"polluted":true}}')
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  })
})

describe('decode properties', () => {
  it('never throws, for any bytes on any protocol topic', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.values(TOPIC_OF)), fc.uint8Array({ maxLength: 512 }), (topic, bytes) => {
        const r = decode(topic, bytes)
        expect(typeof r.ok).toBe('boolean')
      }),
      { numRuns: 2000 },
    )
  })

  it('never throws for arbitrary JSON values and topic strings', () => {
    fc.assert(
      fc.property(fc.string(), fc.jsonValue(), (topic, value) => {
        expect(typeof decode(topic, JSON.stringify(value)).ok).toBe('boolean')
      }),
      { numRuns: 1000 },
    )
  })

  it('only ever accepts an envelope whose device id matches the topic', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TYPES.filter((t) => t !== 'fleet-event')), fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/), (type, id) => {
        const topic = TOPIC_OF[type].replace(DEVICE, id)
        expect(decode(topic, encode(SAMPLES[type])).ok).toBe(id === DEVICE)
      }),
    )
  })
})
