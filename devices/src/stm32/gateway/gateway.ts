import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import {
  createGatewaySession,
  createHttpFetcher,
  type AgentOptions,
  type ArtifactFetcher,
  type GatewaySession,
  type MqttConnectionOptions,
} from '@liquid-edge/agent'
import { pino, type Logger } from 'pino'
import { SerialPort } from 'serialport'
import type { PortOpener } from '../driver/serial.js'
import { GatewayChild, type ChildState } from './child.js'
import { gatewayStatus } from './gateway-status.js'
import { createSharedFetcher, type SharedFetcher } from './shared-fetcher.js'

export interface Stm32GatewayOptions {
  /** The gateway's own device id (MQTT client id and username; the broker lists its children). */
  gatewayId: string
  mqtt: Omit<MqttConnectionOptions, 'clientId'>
  root?: string
  /** Per-child state directories and the shared artifact cache live here. */
  stateDir: string
  publisherKeys: AgentOptions['publisherKeys']
  /** Serial ports with MCUs, optionally with the device id each one gets (default `stm32-<MCU id>`). */
  ports: { path: string; deviceId?: string }[]
  /** @defaultValue 115200 */
  baudRate?: number
  /** @defaultValue the real serial port */
  openPort?: PortOpener
  /** Inner fetcher of the shared cache. @defaultValue HTTP with Range resume */
  fetcher?: ArtifactFetcher
  /** How often a quiet child is probed, and a lost one re-probed, ms. @defaultValue 2000 */
  healthIntervalMs?: number
  /** Settings passed to every child's agent (telemetry window, trial timer, …). */
  agent?: Partial<Omit<AgentOptions, 'deviceId' | 'stateDir' | 'driver' | 'transport' | 'mqtt' | 'fetcher' | 'publisherKeys'>>
  logger?: Logger
}

export interface Stm32GatewayEvents {
  /** A child came online (its agent runs) or went offline (its MCU stopped answering). */
  childChanged: [child: { path: string; deviceId: string | undefined; state: ChildState }]
}

/**
 * Gateway mode: one process, one MQTT connection, one agent per MCU found on the configured
 * serial ports. Artifacts are downloaded once for all children (shared cache); each child keeps
 * its own state; a child that stops answering is reported offline while the others go on.
 */
export class Stm32Gateway extends EventEmitter<Stm32GatewayEvents> {
  readonly children: GatewayChild[]
  private closing: Promise<void> | undefined

  constructor(
    readonly session: GatewaySession,
    readonly fetcher: SharedFetcher,
    children: GatewayChild[],
  ) {
    super()
    this.children = children
    for (const child of children) {
      child.on('stateChanged', (state, deviceId) => this.emit('childChanged', { path: child.path, deviceId, state }))
    }
  }

  /** The child with this device id. */
  child(deviceId: string): GatewayChild | undefined {
    return this.children.find((c) => c.deviceId === deviceId)
  }

  close(): Promise<void> {
    return (this.closing ??= (async () => {
      await Promise.all(this.children.map((c) => c.close()))
      this.fetcher.close()
      await this.session.close()
    })())
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}

/** Start a gateway: connect to the broker and start a child per port (children connect in the background). */
export function createStm32Gateway(options: Stm32GatewayOptions): Promise<Stm32Gateway> {
  const logger = options.logger ?? pino({ level: 'silent' })
  const session = createGatewaySession({
    ...options.mqtt,
    gatewayId: options.gatewayId,
    ...(options.root === undefined ? {} : { root: options.root }),
    logger,
    self: gatewayStatus({
      gatewayId: options.gatewayId,
      stateDir: options.stateDir,
      ...(options.root === undefined ? {} : { root: options.root }),
      ...(options.agent?.agentVersion === undefined ? {} : { agentVersion: options.agent.agentVersion }),
    }),
  })
  const fetcher = createSharedFetcher(options.fetcher ?? createHttpFetcher(), join(options.stateDir, 'artifact-cache'))
  const children = options.ports.map((p) => {
    const child = new GatewayChild({
      path: p.path,
      deviceId: p.deviceId,
      baudRate: options.baudRate ?? 115200,
      openPort: options.openPort,
      session,
      fetcher,
      stateDir: options.stateDir,
      healthIntervalMs: options.healthIntervalMs ?? 2000,
      agent: {
        ...options.agent,
        publisherKeys: options.publisherKeys,
        ...(options.root === undefined ? {} : { root: options.root }),
        logger,
      },
      logger,
    })
    return child
  })
  const gateway = new Stm32Gateway(session, fetcher, children)
  for (const child of children) child.start()
  return Promise.resolve(gateway)
}

/** Serial ports whose USB vendor/product id match (e.g. ST-LINK VCP `0483:374b`). Needs `udevadm` on Linux (TECH-NOTES §5). */
export async function findPortsByUsbId(vendorId: string, productId: string): Promise<string[]> {
  const ports = await SerialPort.list()
  return ports
    .filter((p) => p.vendorId?.toLowerCase() === vendorId.toLowerCase() && p.productId?.toLowerCase() === productId.toLowerCase())
    .map((p) => p.path)
}
