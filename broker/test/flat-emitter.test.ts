import mqemitter from 'mqemitter'
import { describe, expect, it } from 'vitest'
import { flattenDeliveries } from '../src/persistence/flat-emitter.js'

/** 20,000 messages queued behind one slow delivery, then every later delivery completes at once. */
function queueBehindSlow(mq: ReturnType<typeof mqemitter>): { delivered: number[]; release: () => void } {
  const delivered: number[] = []
  let hold: (() => void) | null = null
  mq.on('lln/#', (message, done) => {
    const n = message.n as number
    delivered.push(n)
    if (n === 0) hold = done
    else done()
  })
  for (let n = 0; n <= 20_000; n++) mq.emit({ topic: `lln/devices/d${n}/status`, n })
  return { delivered, release: () => hold?.() }
}

describe('aedes message bus', () => {
  it('overflows the stack unflattened when a long queue drains with synchronous deliveries (the failure being worked around)', () => {
    const { release } = queueBehindSlow(mqemitter({ concurrency: 1 }))
    expect(release).toThrow(RangeError)
  })

  it('hands a queue of 20,000 messages out in order on a flat stack', () => {
    const { delivered, release } = queueBehindSlow(flattenDeliveries(mqemitter({ concurrency: 1 })))
    release()
    expect(delivered).toHaveLength(20_001)
    expect(delivered.every((n, i) => n === i)).toBe(true)
  })
})
