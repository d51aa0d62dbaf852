import { route, startHttpServer, type HttpServer, type RouteRequest } from '@liquid-edge/http'
import * as z from 'zod'
import { FaultSettingsSchema, type FaultSettings, type FaultSettingsInput } from '../simulated/faults.js'
import type { DeviceSelection } from '../fleet/fleet.js'

/** What the control endpoint drives: a fleet, or the one simulated device of `liquid-agent run`. */
export interface ControlTarget {
  setFaults(selection: DeviceSelection, change: FaultSettingsInput): string[]
  /** Current faults by device id (only devices with a fault when `faultyOnly`). */
  faults(faultyOnly: boolean): Record<string, FaultSettings>
  stats(): unknown
}

const FaultRequestSchema = z.strictObject({
  ids: z.array(z.string().max(64)).max(100_000).optional(),
  count: z.number().int().min(0).optional(),
  percent: z.number().min(0).max(100).optional(),
  /** Faults to set; omitted = clear every fault of the selection. */
  set: FaultSettingsSchema.partial().optional(),
})
type FaultRequest = z.output<typeof FaultRequestSchema>

/**
 * The fault control endpoint of simulated devices (loopback only): switch faults at run time.
 *
 *   curl -X POST localhost:PORT/faults -d '{"percent":25,"set":{"latencyFactor":3}}'
 *   curl -X DELETE localhost:PORT/faults -d '{}'
 */
export function startControlServer(target: ControlTarget, port: number, host = '127.0.0.1'): Promise<HttpServer> {
  const setFaults = (clear: boolean) => (req: RouteRequest<FaultRequest>) => {
    const { set, ...selection } = req.body
    const change = clear || set === undefined ? FaultSettingsSchema.parse({}) : set
    return { json: { changed: target.setFaults(selection as DeviceSelection, change) } }
  }
  return startHttpServer({
    port,
    host,
    routes: [
      route({ method: 'GET', path: '/stats', handler: () => ({ json: target.stats() }) }),
      route({
        method: 'GET',
        path: '/faults',
        handler: ({ query }) => ({ json: { devices: target.faults(query.get('all') !== 'true') } }),
      }),
      route({ method: 'POST', path: '/faults', body: FaultRequestSchema, handler: setFaults(false) }),
      route({ method: 'DELETE', path: '/faults', body: FaultRequestSchema, handler: setFaults(true) }),
    ],
  })
}
