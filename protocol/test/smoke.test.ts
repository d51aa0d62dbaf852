import { describe, expect, it } from 'vitest'
import { decode } from '@liquid-edge/protocol'

describe('decode', () => {
  it('refuses a non-protocol topic', () => {
    expect(decode('foo/bar', '{}')).toMatchObject({ ok: false, error: { code: 'PROTO_INVALID_TOPIC' } })
  })
})
