import type { Aedes, Client } from 'aedes'

type Deliver = (packet: DeliveredPacket, cb: () => void) => void
interface DeliveredPacket {
  qos: number
  brokerId?: string | null
  brokerCounter?: number
}
interface Deliveries {
  deliver0: Deliver
  deliverQoS: Deliver
  duplicates: Record<string, number>
}

/** How many recent deliveries a client remembers; the copies of one message arrive back to back. */
const RECENT = 64

/**
 * aedes 1.2 drops, as a duplicate, any message whose broker counter is not above the highest one
 * it already delivered to that client. The counter is taken when a publish starts; with Redis
 * persistence a retained QoS 1 publish then waits on Redis (retained store, offline queues) while
 * a later QoS 0 publish goes straight out, so the retained message arrives "old" and is dropped
 * — upstream moscajs/aedes#994, reproduced in test/dedupe.test.ts.
 *
 * What the filter is for is one message reaching a client through several overlapping
 * subscriptions (`a/#` and `a/b`): one emit hands each subscription its own copy, back to back.
 * So a client here remembers the ids of its last few deliveries exactly, and aedes' high-water
 * mark is answered from that memory: a copy already delivered is a duplicate, anything else is
 * new, whatever order the broker's publishes finish in. aedes keeps its own handling of a
 * duplicate (a persistent session's queue entry is cleared as before).
 */
export function installExactDedupe(aedes: Aedes): void {
  const next = aedes.preConnect.bind(aedes)
  aedes.preConnect = (client, packet, done) => {
    dedupeExactly(client)
    next(client, packet, done)
  }
}

function dedupeExactly(client: Client): void {
  const c = client as unknown as Deliveries
  const recent = new RecentIds(RECENT)
  // aedes forwards when `(duplicates[brokerId] || 0) < brokerCounter` (counters start at 1), reading
  // the mark synchronously at the top of its deliver functions: each delivery sets it just before,
  // 0 for a new message and Infinity for a copy already delivered (aedes' own writes are overwritten).
  const marks = Object.create(null) as Record<string, number>
  c.duplicates = marks
  const judged =
    (deliver: Deliver): Deliver =>
    (packet, cb) => {
      const broker = packet.brokerId
      if (broker) marks[broker] = recent.add(broker, packet.brokerCounter ?? 0) ? 0 : Infinity
      deliver(packet, cb)
    }
  const deliverQoS = judged(c.deliverQoS)
  c.deliver0 = judged(c.deliver0)
  // aedes' deliverQoS hands QoS 0 packets to deliver0 itself, which must judge them once only.
  c.deliverQoS = (packet, cb) => {
    if (packet.qos === 0) c.deliver0(packet, cb)
    else deliverQoS(packet, cb)
  }
}

/**
 * The last `size` (broker id, counter) pairs added, in a ring: no allocation per delivery. The
 * copies of one message arrive back to back, so the newest entries are looked at first.
 */
class RecentIds {
  readonly #brokers: (string | undefined)[]
  readonly #counters: number[]
  #next = 0

  constructor(size: number) {
    this.#brokers = new Array<string | undefined>(size).fill(undefined)
    this.#counters = new Array<number>(size).fill(0)
  }

  /** Remember the pair; false when it was already among the recent ones. */
  add(brokerId: string, counter: number): boolean {
    const size = this.#brokers.length
    for (let n = 1; n <= size; n++) {
      const i = (this.#next - n + size) % size
      if (this.#counters[i] === counter && this.#brokers[i] === brokerId) return false
    }
    this.#brokers[this.#next] = brokerId
    this.#counters[this.#next] = counter
    this.#next = (this.#next + 1) % size
    return true
  }
}
