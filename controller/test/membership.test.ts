import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { bucketOf, cohortOf, inPercent, type Member } from '../src/index.js'

const idArb = fc.stringMatching(/^[a-z0-9-]{1,16}$/)

describe('subset membership', () => {
  it('membership is sticky: a device bucket depends only on its id and the salt', () => {
    fc.assert(
      fc.property(idArb, fc.string({ maxLength: 20 }), (id, salt) => {
        const b = bucketOf(id, salt)
        expect(b).toBe(bucketOf(id, salt))
        expect(b).toBeGreaterThanOrEqual(0)
        expect(b).toBeLessThan(10_000)
      }),
    )
  })

  it('membership is monotone: the smaller share lies inside the larger one', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(idArb, { minLength: 1, maxLength: 200 }),
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 100 }),
        fc.constantFrom('', 'hw'),
        (ids, p1, p2, strat) => {
          const [lo, hi] = p1 <= p2 ? [p1, p2] : [p2, p1]
          const members: Member[] = ids.map((id, i) => ({ id, bucket: bucketOf(id, 's'), stratum: strat === '' ? '' : `hw${i % 3}` }))
          const small = cohortOf(members, [{ percent: lo }], 0)
          const big = cohortOf(members, [{ percent: hi }], 0)
          for (const id of small) expect(big.has(id)).toBe(true)
          expect(small.size).toBeGreaterThanOrEqual(Math.ceil((lo / 100) * ids.length) > 0 ? 1 : 0)
          for (const m of members) if (inPercent(m.bucket, lo)) expect(small.has(m.id)).toBe(true)
        },
      ),
    )
  })

  it('membership keeps a device in its step when more devices join the fleet', () => {
    fc.assert(
      fc.property(fc.uniqueArray(idArb, { minLength: 2, maxLength: 300 }), fc.integer({ min: 1, max: 99 }), (ids, p) => {
        const all = ids.map((id) => ({ id, bucket: bucketOf(id, 'salt'), stratum: '' }))
        const half = all.slice(0, Math.floor(all.length / 2))
        const before = cohortOf(half, [{ percent: p }], 0)
        const after = cohortOf(all, [{ percent: p }], 0)
        for (const id of before) if (inPercent(bucketOf(id, 'salt'), p)) expect(after.has(id)).toBe(true)
      }),
    )
  })

  it('stratified steps include every hardware class in the first step', () => {
    const members: Member[] = Array.from({ length: 100 }, (_, i) => ({
      id: `d${i}`,
      bucket: bucketOf(`d${i}`, 'x'),
      stratum: i < 4 ? 'rare' : 'common',
    }))
    const first = cohortOf(members, [{ percent: 10 }], 0)
    expect([...first].some((id) => Number(id.slice(1)) < 4)).toBe(true)
    expect(first.size).toBe(11)
  })
})
