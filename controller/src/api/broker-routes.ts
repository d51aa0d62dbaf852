import * as z from 'zod'
import { BrokerIdentitySchema } from '@liquid-edge/protocol'
import type { Registry } from '../registry/registry.js'
import { route, type RouteDef } from './route.js'

export interface BrokerRouteDeps {
  registry: Registry
  /** The topic root the fleet uses on the broker. */
  root: string
  /** The controller's own MQTT user name (`LLN_MQTT_USERNAME`), when it has one. */
  mqttUsername: string | undefined
}

/** What a third-party broker must know to authorise the fleet: `liquid-lln broker-config` reads it. */
export function brokerRoutes(d: BrokerRouteDeps): RouteDef[] {
  return [
    route({
      method: 'GET',
      url: '/v1/broker/identities',
      summary:
        'Every broker identity (devices, gateways and their children, controllers, consumers) and the topic root, never a secret or a hash',
      scope: 'admin',
      response: z.object({ root: z.string(), identities: z.array(BrokerIdentitySchema), skipped: z.number().int() }),
      handler: async () => {
        const { identities, skipped } = await d.registry.identities()
        const user = d.mqttUsername
        // The controller logs in with its configured user even when the store holds no credential for it.
        const own =
          user === undefined || identities.some((i) => i.id === user)
            ? []
            : [{ id: user, role: 'controller' as const, children: [], registered: false, credential: false }]
        return { root: d.root, identities: [...identities, ...own], skipped }
      },
    }),
  ]
}
