import type { Aedes } from 'aedes'
import { filterWithin } from '@liquid-edge/protocol'

type Deliver = (packet: DeliveryPacket, cb: () => void) => void
interface DeliveryPacket {
  topic: string
  qos: number
}
interface ClientDeliveries {
  deliver0: Deliver
  deliverQoS: Deliver
  subscriptions: Record<string, { qos: number } | undefined>
}

/** The highest QoS granted to any of the client's subscriptions that match `topic` ($-topics only by $-filters). */
function highestQos(subscriptions: ClientDeliveries['subscriptions'], topic: string): number {
  let highest = -1
  for (const filter in subscriptions) {
    const sub = subscriptions[filter]
    if (sub === undefined || sub.qos <= highest) continue
    if (topic.startsWith('$') && !filter.startsWith('$')) continue // [MQTT-4.7.2-1]
    if (filterWithin(topic, filter)) highest = sub.qos
  }
  return highest
}

/**
 * aedes registers one listener per subscription and delivers a message once per client, through
 * whichever matching subscription fires first, at that subscription's QoS; with a wildcard filter it
 * also skips the downgrade to the granted QoS. MQTT 3.1.1 wants the highest QoS of all the matching
 * subscriptions, never above the publish's own [MQTT-3.3.5-1], [MQTT-3.8.4-6]. This routes each
 * delivery at that QoS.
 *
 * Left as aedes does it: an exact-topic subscription at a lower QoS than an overlapping wildcard one
 * still caps the delivery (aedes downgrades by the exact subscription inside its QoS path).
 */
export function installOverlapQos(aedes: Aedes): void {
  const previous = aedes.preConnect.bind(aedes)
  aedes.preConnect = (client, packet, done) => {
    const c = client as unknown as ClientDeliveries
    const deliver0 = c.deliver0
    const deliverQoS = c.deliverQoS
    const route = (p: DeliveryPacket, cb: () => void, called: Deliver): void => {
      // A QoS 0 publish goes out at QoS 0 whatever the subscriptions: no need to look at them.
      const matching = p.qos === 0 ? -1 : highestQos(c.subscriptions, p.topic)
      if (matching < 0) {
        called(p, cb)
        return
      }
      const highest = Math.min(p.qos, matching)
      if (highest === 0 || c.subscriptions[p.topic]?.qos === 0) deliver0(p, cb)
      else deliverQoS(highest === p.qos ? p : { ...p, qos: highest }, cb)
    }
    c.deliver0 = (p, cb) => {
      route(p, cb, deliver0)
    }
    c.deliverQoS = (p, cb) => {
      route(p, cb, deliverQoS)
    }
    previous(client, packet, done)
  }
}
