import type { PublisherKey } from '@liquid-edge/package'
import type { Logger } from 'pino'
import * as z from 'zod'
import { DEFAULT_ROOT, DeviceIdSchema, FleetError, isValidRoot } from '@liquid-edge/protocol'
import type { ArtifactFetcher, Clock, DeviceDriver, StateStore } from './ports.js'
import type { MqttConnectionOptions } from './transport/mqtt-connection.js'
import type { AgentTransport } from './transport/transport.js'
import type { HttpFetcherOptions } from './update/http-fetcher.js'

/** The plain-data options, validated with zod. */
export const AgentSettingsSchema = z.object({
  deviceId: DeviceIdSchema,
  /** Topic root. @defaultValue 'lln/v1' */
  root: z.string().refine(isValidRoot, 'invalid topic root').default(DEFAULT_ROOT),
  /** Directory for state, slot packages, downloads and the telemetry buffer. */
  stateDir: z.string().min(1),
  /** Telemetry window length. @defaultValue 1000 */
  telemetryWindowMs: z.number().int().min(10).max(3_600_000).default(1000),
  /** Close windows on the agent's own timer; `false` when a fleet drives {@link Agent.closeWindow} itself. @defaultValue true */
  telemetryTimer: z.boolean().default(true),
  /** Windows kept offline before the oldest are dropped. @defaultValue 3600 */
  telemetryBufferWindows: z.number().int().min(1).max(1_000_000).default(3600),
  /** Keep the offline buffer on disk (survives restarts) or only in memory. @defaultValue true */
  telemetryBufferOnDisk: z.boolean().default(true),
  /** Local HTTP API (`/inference`, `/health`, `/metrics`); `null` disables it. @defaultValue null */
  http: z
    .object({ port: z.number().int().min(0).max(65535), host: z.string().default('127.0.0.1') })
    .nullable()
    .default(null),
  /** Log lines kept for the `logs` command. @defaultValue 500 */
  logLines: z.number().int().min(1).max(100_000).default(500),
  /** Reported as `agentVersion`. @defaultValue '0.1.0' */
  agentVersion: z.string().max(64).default('0.1.0'),
})

/** Options of {@link createAgent}. */
export interface AgentOptions extends z.input<typeof AgentSettingsSchema> {
  /** The hardware edge. */
  driver: DeviceDriver
  /** Own MQTT connection (client id = username = device id). Exactly one of `mqtt` and `transport`. */
  mqtt?: Omit<MqttConnectionOptions, 'clientId'>
  /** A ready transport, e.g. `gatewaySession.transportFor(deviceId)`. */
  transport?: AgentTransport
  /** Trusted publisher keys (PEM, base64 SPKI, a PEM file path, raw 32-byte ed25519, or KeyObject); a package must verify against one. */
  publisherKeys: readonly PublisherKey[]
  /** @defaultValue the real clock */
  clock?: Clock
  /** @defaultValue HTTP(S) with Range resume ({@link createHttpFetcher} with `download`) */
  fetcher?: ArtifactFetcher
  /** Limits of the default fetcher (size cap, timeouts). */
  download?: HttpFetcherOptions
  /** @defaultValue files in `stateDir`, written atomically */
  stateStore?: StateStore
  /** @defaultValue silent */
  logger?: Logger
}

export type AgentSettings = z.output<typeof AgentSettingsSchema>

/** @throws {FleetError} `CONFIG_INVALID` */
export function parseSettings(options: AgentOptions): AgentSettings {
  const parsed = AgentSettingsSchema.safeParse(options)
  if (!parsed.success) throw new FleetError('CONFIG_INVALID', `invalid agent options: ${z.prettifyError(parsed.error)}`)
  if ((options.mqtt === undefined) === (options.transport === undefined)) {
    throw new FleetError('CONFIG_INVALID', "exactly one of 'mqtt' and 'transport' must be given")
  }
  if (options.publisherKeys.length === 0) throw new FleetError('CONFIG_INVALID', "'publisherKeys' must name at least one key")
  return parsed.data
}
