import { finished, type Duplex } from 'node:stream'
import type { Aedes, Client } from 'aedes'

type Deliver = (packet: unknown, cb: () => void) => void
interface Deliveries {
  deliver0: Deliver
  deliverQoS: Deliver
  conn: Duplex
}

/**
 * aedes 1.2 restores a persistent session's subscriptions before it writes the CONNACK, so a
 * message published in between reaches the client first, against MQTT 3.1.1 [MQTT-3.2.0-1]; MQTT.js
 * then never reads the CONNACK (its input waits until it can send the PUBACK, which waits for the
 * connection). Here every delivery to a client waits until its CONNACK is written, or until its
 * connection is gone (aedes then drops it as for any closed client; a session's queue keeps QoS 1).
 */
export function installConnackFirst(aedes: Aedes): void {
  const opening = new WeakMap<Client, () => void>()
  aedes.on('connackSent', (_packet, client) => {
    opening.get(client)?.()
  })
  aedes.preConnect = (client, _packet, done) => {
    const c = client as unknown as Deliveries
    const held: (() => void)[] = []
    let open = false
    const release = () => {
      if (open) return
      open = true
      opening.delete(client)
      for (const deliver of held.splice(0)) deliver()
    }
    const hold =
      (deliver: Deliver): Deliver =>
      (packet, cb) => {
        if (open) deliver(packet, cb)
        else
          held.push(() => {
            deliver(packet, cb)
          })
      }
    c.deliver0 = hold(c.deliver0)
    c.deliverQoS = hold(c.deliverQoS)
    opening.set(client, release)
    finished(c.conn, release)
    done(null, true)
  }
}
