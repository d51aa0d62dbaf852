import { describe, expectTypeOf, it } from 'vitest'
import {
  decode,
  type CommandBody,
  type CommandOf,
  type DecodeResult,
  type FleetError,
  type Identity,
  type Phase,
  type Telemetry,
  type ErrorCode,
} from '@liquid-edge/protocol'

describe('public types', () => {
  it('narrows decode results by topic kind', () => {
    const r: DecodeResult = decode('lln/v1/devices/x/telemetry', '')
    if (r.ok && r.kind === 'telemetry') {
      expectTypeOf(r.message).toEqualTypeOf<Telemetry>()
      expectTypeOf(r.topic.deviceId).toBeString()
    }
    if (!r.ok) expectTypeOf(r.error.code).toEqualTypeOf<ErrorCode>()
  })

  it('gives each command kind its own fields', () => {
    expectTypeOf<CommandOf<'profile'>>().toHaveProperty('metric').toEqualTypeOf<'latency' | 'energy'>()
    expectTypeOf<CommandOf<'verify'>['suite']>().toEqualTypeOf<'smoke' | 'integration' | 'production' | 'full'>()
    expectTypeOf<CommandBody['kind']>().toEqualTypeOf<
      'rollback' | 'verify' | 'profile' | 'evaluate' | 'switch' | 'decommission' | 'status' | 'logs' | 'ping' | 'cancel'
    >()
  })

  it('keeps telemetry sensors nullable (unknown is not zero)', () => {
    expectTypeOf<Telemetry['body']['temperatureC']>().toEqualTypeOf<number | null>()
    expectTypeOf<Telemetry['body']['energy']>().toExtend<{ avgMw: number } | null>()
  })

  it('exposes the phase enum and identities', () => {
    expectTypeOf<Phase>().toEqualTypeOf<
      'idle' | 'downloading' | 'verifying' | 'staging' | 'staged' | 'trial' | 'active' | 'failed' | 'reverted'
    >()
    expectTypeOf<Extract<Identity, { role: 'gateway' }>['children']>().toEqualTypeOf<readonly string[]>()
    expectTypeOf<FleetError['code']>().toEqualTypeOf<ErrorCode>()
  })
})
