import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ERROR_CODES } from '@liquid-edge/protocol'
import { parsePackage, signPackage, verifyPackage } from '@liquid-edge/package'
import { DRAFT, keyPair, modelBytes } from './support.js'

const publisher = keyPair()
const signed = signPackage(DRAFT, modelBytes(), publisher.privateKey)
const keys = [publisher.publicKey]
const CODES = Object.keys(ERROR_CODES).filter((c) => c.startsWith('PACKAGE_'))

/** A valid package with some bytes overwritten (at least one of them changed). */
const mutated = fc
  .array(fc.tuple(fc.nat({ max: signed.bytes.byteLength - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 })
  .map((edits) => {
    const out = Uint8Array.from(signed.bytes)
    for (const [at, xor] of edits) out[at]! ^= xor
    return out
  })
  .filter((bytes) => bytes.some((b, i) => b !== signed.bytes[i]))

describe('package verification under fuzzing', () => {
  it('refuses arbitrary bytes with a PACKAGE_* code and never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
        const r = verifyPackage(bytes, { keys })
        expect(r.ok).toBe(false)
        if (!r.ok) expect(CODES).toContain(r.code)
      }),
      { numRuns: 500 },
    )
  })

  it('refuses arbitrary bytes behind a valid header and lengths without throwing', () => {
    const header = signed.bytes.subarray(0, 12)
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 80, maxLength: 4096 }), (tail) => {
        const r = parsePackage(new Uint8Array([...header, ...tail]))
        if (!r.ok) expect(CODES).toContain(r.code)
      }),
      { numRuns: 300 },
    )
  })

  it('never accepts a package with any byte changed', () => {
    fc.assert(
      fc.property(mutated, (bytes) => {
        const r = verifyPackage(bytes, { keys })
        expect(r.ok).toBe(false)
        if (!r.ok) expect(CODES).toContain(r.code)
      }),
      { numRuns: 500 },
    )
  })

  it('names every changed download PACKAGE_SHA256_MISMATCH when the expected hash is known', () => {
    fc.assert(
      fc.property(mutated, (bytes) => {
        expect(verifyPackage(bytes, { keys, expectedSha256: signed.sha256 })).toMatchObject({ code: 'PACKAGE_SHA256_MISMATCH' })
      }),
      { numRuns: 200 },
    )
  })

  it('names every prefix or extension of a package by the layout it breaks', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -signed.bytes.byteLength, max: 64 }).filter((d) => d !== 0),
        (delta) => {
          const bytes =
            delta < 0
              ? signed.bytes.subarray(0, signed.bytes.byteLength + delta)
              : new Uint8Array([...signed.bytes, ...new Uint8Array(delta)])
          expect(verifyPackage(bytes, { keys })).toMatchObject({ ok: false, code: delta < 0 ? 'PACKAGE_TRUNCATED' : 'PACKAGE_MALFORMED' })
        },
      ),
      { numRuns: 200 },
    )
  })
})
