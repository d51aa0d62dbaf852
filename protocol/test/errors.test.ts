import { describe, expect, it } from 'vitest'
import { ERROR_CODES, ErrorPayloadSchema, FleetError, fromErrorPayload, isFleetError, toErrorPayload } from '@liquid-edge/protocol'

describe('errors', () => {
  it('uses area-prefixed SCREAMING_SNAKE codes', () => {
    for (const code of Object.keys(ERROR_CODES))
      expect(code).toMatch(/^(PROTO|BROKER|AGENT|DEVICE|ROLLOUT|REGISTRY|MODEL|API|PACKAGE|RUNBOOK|CONFIG)_[A-Z0-9_]+$/)
  })

  it('round-trips a FleetError through the wire payload', () => {
    const err = new FleetError('PACKAGE_SHA256_MISMATCH', 'sha256 differs', { details: { expected: 'a', actual: 'b' }, retryable: true })
    const payload = ErrorPayloadSchema.parse(JSON.parse(JSON.stringify(toErrorPayload(err))))
    const back = fromErrorPayload(payload)
    expect(isFleetError(back, 'PACKAGE_SHA256_MISMATCH')).toBe(true)
    expect(back).toMatchObject({ message: 'sha256 differs', retryable: true, details: { expected: 'a', actual: 'b' }, name: 'FleetError' })
  })

  it('keeps an unknown code from a newer peer instead of failing', () => {
    const back = fromErrorPayload({ code: 'AGENT_FROM_THE_FUTURE', message: 'x', retryable: false })
    expect(back.details).toMatchObject({ code: 'AGENT_FROM_THE_FUTURE' })
  })

  it('wraps non-fleet errors with the fallback code and keeps the cause', () => {
    expect(toErrorPayload(new Error('boom'), 'DEVICE_INFERENCE_FAILED')).toEqual({
      code: 'DEVICE_INFERENCE_FAILED',
      message: 'boom',
      retryable: false,
    })
    const cause = new Error('io')
    expect(new FleetError('AGENT_DISK_FULL', 'disk full', { cause }).cause).toBe(cause)
  })
})
