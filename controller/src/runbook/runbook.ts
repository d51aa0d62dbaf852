import type { Logger } from 'pino'
import type { Decoded } from '@liquid-edge/protocol'
import type { RouteDef } from '../api/route.js'
import type { Clock } from '../clock.js'
import type { ModelStore } from '../models/model-store.js'
import type { LiveStore } from '../registry/live.js'
import type { Registry } from '../registry/registry.js'
import { CommandFanout, type CommandLink } from './fanout.js'
import { runbookRoutes } from './routes.js'
import { RecentTelemetry, type TelemetryReader } from './tracker.js'

export interface RunbookOptions {
  link: CommandLink
  registry: Registry
  live: LiveStore
  models: ModelStore
  clock: Clock
  logger?: Logger
  /** Where device telemetry is read from. @defaultValue recent windows kept in memory from `link` */
  telemetry?: TelemetryReader
}

/** The runbook verbs (#9): a command fan-out, a telemetry reader, and their API routes. */
export interface Runbook {
  readonly fanout: CommandFanout
  readonly telemetry: TelemetryReader
  readonly routes: RouteDef[]
  close(): void
}

export function createRunbook(o: RunbookOptions): Runbook {
  const fanout = new CommandFanout(o.link, o.clock, o.logger)
  let telemetry = o.telemetry
  let detach = (): void => undefined
  if (telemetry === undefined) {
    const recent = new RecentTelemetry(o.clock)
    const listener = (m: Decoded): void => {
      recent.onMessage(m)
    }
    o.link.on('message', listener)
    detach = () => {
      o.link.off('message', listener)
    }
    telemetry = recent
  }
  const routes = runbookRoutes({ registry: o.registry, live: o.live, models: o.models, fanout, telemetry, clock: o.clock })
  return {
    fanout,
    telemetry,
    routes,
    close() {
      detach()
      fanout.close()
    },
  }
}
