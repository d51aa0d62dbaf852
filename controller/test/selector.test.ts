import { describe, expect, it } from 'vitest'
import { isFleetError } from '@liquid-edge/protocol'
import { formatSelector, matchesSelector, parseLabels, parseSelector } from '../src/index.js'

describe('label selectors', () => {
  it('selector matches equality, set membership and negation when combined', () => {
    const sel = parseSelector('env=production,hw in (stm32h743,rpi4),!canary')
    expect(matchesSelector(sel, { env: 'production', hw: 'rpi4' })).toBe(true)
    expect(matchesSelector(sel, { env: 'production', hw: 'rpi4', canary: 'yes' })).toBe(false)
    expect(matchesSelector(sel, { env: 'production', hw: 'x86' })).toBe(false)
    expect(matchesSelector(sel, { env: 'staging', hw: 'rpi4' })).toBe(false)
    expect(formatSelector(sel)).toBe('env=production,hw in (stm32h743,rpi4),!canary')
  })

  it('selector treats a bare word as a group (a label key or value) when given alone', () => {
    const sel = parseSelector('stm32h743')
    expect(matchesSelector(sel, { hw: 'stm32h743' })).toBe(true)
    expect(matchesSelector(sel, { stm32h743: 'true' })).toBe(true)
    expect(matchesSelector(sel, { hw: 'rpi4' })).toBe(false)
    expect(matchesSelector(parseSelector(''), {})).toBe(true)
    expect(matchesSelector(parseSelector('env!=prod, hw notin (a,b)'), { env: 'dev', hw: 'c' })).toBe(true)
  })

  it.each(['env=', 'env in (a,', 'env in a', '=x', 'a,,b', 'env=(x', 'hw in ()', 'a=b c'])(
    'selector %j is refused with a clear error',
    (bad) => {
      let err: unknown
      try {
        parseSelector(bad)
      } catch (e) {
        err = e
      }
      expect(isFleetError(err, 'REGISTRY_INVALID_SELECTOR')).toBe(true)
      expect((err as Error).message).toContain('invalid selector')
    },
  )

  it('labels parse k=v lists and refuse malformed pairs', () => {
    expect(parseLabels('env=staging,hw=stm32h743')).toEqual({ env: 'staging', hw: 'stm32h743' })
    expect(() => parseLabels('env')).toThrow(/invalid label/)
    expect(() => parseLabels('env=a=b')).toThrow(/invalid label/)
  })
})
