import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import {
  createAgent,
  type Agent,
  type AgentOptions,
  type AgentTransport,
  type ArtifactFetcher,
  type GatewaySession,
  type TransportHandlers,
} from '@liquid-edge/agent'
import { createCodec, deviceMessage, DeviceIdSchema, FleetError, type ReplyBody } from '@liquid-edge/protocol'
import type { Logger } from 'pino'
import { createStm32Driver, type Stm32Driver } from '../driver/stm32-driver.js'
import type { PortOpener } from '../driver/serial.js'
import { outsideSamples } from './own-loop.js'

export type ChildState = 'connecting' | 'online' | 'offline' | 'closed'

export interface ChildOptions {
  path: string
  /** Device id; default `stm32-<MCU id>`. */
  deviceId: string | undefined
  baudRate: number
  openPort: PortOpener | undefined
  session: GatewaySession
  fetcher: ArtifactFetcher
  stateDir: string
  healthIntervalMs: number
  agent: Omit<AgentOptions, 'deviceId' | 'stateDir' | 'driver' | 'transport' | 'mqtt' | 'fetcher'>
  logger: Logger
}

export interface ChildEvents {
  stateChanged: [state: ChildState, deviceId: string | undefined]
}

/** The device id of an MCU that has none configured. */
export function defaultDeviceId(mcuId: string): string {
  const id = `stm32-${mcuId.toLowerCase().replace(/[^a-z0-9_-]/g, '-')}`.slice(0, 64)
  return DeviceIdSchema.parse(id)
}

/**
 * One MCU behind the gateway: its driver and its own agent (own state directory, own topics). A
 * child that stops answering has its agent closed — which publishes its status offline — and is
 * probed until it answers again, when a fresh agent takes over.
 */
export class GatewayChild extends EventEmitter<ChildEvents> {
  state: ChildState = 'connecting'
  deviceId: string | undefined
  driver: Stm32Driver | undefined
  agent: Agent | undefined
  private timer: NodeJS.Timeout | undefined
  private busy = false
  /** LOOP_STATS answers refused (invalid statistics from the MCU). */
  refusedLoopStats = 0

  /** The serial port of this child. */
  readonly path: string

  constructor(private readonly o: ChildOptions) {
    super()
    this.path = o.path
    this.deviceId = o.deviceId
  }

  /** Begin connecting (in the background); never rejects. */
  start(): void {
    this.schedule(0)
  }

  private schedule(ms: number): void {
    if (this.state === 'closed') return
    this.timer = setTimeout(() => {
      void this.tick()
    }, ms)
  }

  private setState(state: ChildState): void {
    if (this.state === state || this.state === 'closed') return
    this.state = state
    this.o.logger.info({ port: this.o.path, deviceId: this.deviceId, state }, 'child state')
    this.emit('stateChanged', state, this.deviceId)
  }

  private async tick(): Promise<void> {
    if (this.busy || this.state === 'closed') return
    this.busy = true
    try {
      if (this.agent === undefined) await this.connect()
      else await this.check()
    } catch (err) {
      this.o.logger.debug({ err, port: this.o.path }, 'child check failed')
    } finally {
      this.busy = false
      this.schedule(this.o.healthIntervalMs)
    }
  }

  private async connect(): Promise<void> {
    if (this.driver === undefined) {
      this.driver = await createStm32Driver({
        path: this.o.path,
        baudRate: this.o.baudRate,
        maxAttempts: 4,
        logger: this.o.logger.child({ port: this.o.path }),
        ...(this.o.openPort === undefined ? {} : { openPort: this.o.openPort }),
      })
    } else {
      await this.driver.hello()
    }
    const driver = this.driver
    this.deviceId = this.o.deviceId ?? defaultDeviceId(driver.info?.mcuId ?? 'unknown')
    const id = this.deviceId
    if (this.state === 'closed') return
    const link = tappedTransport(this.o.session.transportFor(id))
    const agent = await createAgent({
      ...this.o.agent,
      deviceId: id,
      stateDir: join(this.o.stateDir, id),
      driver,
      transport: link.transport,
      fetcher: this.o.fetcher,
    })
    driver.on('booted', ({ reverted }) => {
      if (reverted) this.tellAgentOfRevert(agent, id, link.handlers())
    })
    agent.on('trialEnded', ({ confirmed }) => {
      if (confirmed)
        void driver.confirm().catch((err: unknown) => {
          this.o.logger.warn({ err, id }, 'confirm failed')
        })
    })
    agent.on('error', (err) => {
      this.o.logger.warn({ err, id }, 'agent error')
    })
    this.agent = agent
    this.setState('online')
  }

  /**
   * The MCU reverted an unconfirmed trial at boot (brown-out, watchdog): the agent still believes
   * in its trial, so hand it the same local command an operator's rollback would be — it reverts
   * its trial (no-op on the MCU, already there) and reports it.
   */
  private tellAgentOfRevert(agent: Agent, id: string, handlers: TransportHandlers | undefined, attempt = 0): void {
    if (handlers === undefined || this.agent !== agent || attempt >= 50) return
    const retry = (): void => {
      setTimeout(() => {
        this.tellAgentOfRevert(agent, id, handlers, attempt + 1)
      }, 100)
    }
    // The agent refuses commands while it downloads or stages (AGENT_BUSY): wait for it.
    if (agent.busy()) {
      retry()
      return
    }
    const codec = createCodec(this.o.agent.root === undefined ? {} : { root: this.o.agent.root })
    const commandId = randomUUID()
    const body = { kind: 'rollback' as const, expiresAt: Date.now() + 60_000, to: { to: 'previous' as const } }
    const onAnswer = (reply: ReplyBody): void => {
      if (reply.commandId !== commandId) return
      agent.off('commandAnswered', onAnswer)
      if (!reply.ok && reply.error.code === 'AGENT_BUSY') retry()
      else this.o.logger.warn({ id, ok: reply.ok }, 'the MCU reverted an unconfirmed trial at boot; agent rolled back')
    }
    agent.on('commandAnswered', onAnswer)
    handlers.message('cmd', codec.encode(deviceMessage('command', id, body, { id: commandId })))
  }

  /**
   * A cheap request when the link has been quiet — an MCU that does not answer makes the child
   * offline — and the inferences the MCU ran on its own since the last check, handed to its agent
   * so that its telemetry and trial count them like the agent's own.
   */
  private async check(): Promise<void> {
    const driver = this.driver
    if (driver === undefined) return
    try {
      await driver.stats()
      const loop = await driver.loopStats()
      const agent = this.agent
      if (loop === null || agent === undefined) return
      const r = outsideSamples(loop)
      if (r.ok) {
        if (r.samples !== null) agent.recordSamples(r.samples)
      } else {
        this.refusedLoopStats++
        this.o.logger.warn({ port: this.o.path, deviceId: this.deviceId, reason: r.error }, 'LOOP_STATS refused: invalid statistics')
      }
    } catch (err) {
      if (!(err instanceof FleetError && (err.code === 'DEVICE_TIMEOUT' || err.code === 'DEVICE_LINK_ERROR'))) throw err
      await this.goOffline()
    }
  }

  private async goOffline(): Promise<void> {
    const agent = this.agent
    this.agent = undefined
    this.setState('offline')
    await agent?.close()
    // Reopen the port on the next probe: a USB serial device that was unplugged comes back as a new node.
    const driver = this.driver
    this.driver = undefined
    await driver?.close()
  }

  async close(): Promise<void> {
    clearTimeout(this.timer)
    this.state = 'closed'
    const agent = this.agent
    this.agent = undefined
    await agent?.close()
    await this.driver?.close()
  }
}

/** A transport that remembers the agent's handlers, so the gateway can hand the agent local commands. */
function tappedTransport(base: AgentTransport): { transport: AgentTransport; handlers: () => TransportHandlers | undefined } {
  let handlers: TransportHandlers | undefined
  const transport: AgentTransport = {
    deviceId: base.deviceId,
    get connected() {
      return base.connected
    },
    start(h) {
      handlers = h
      return base.start(h)
    },
    publish: (kind, payload, options) => base.publish(kind, payload, options),
    close: () => base.close(),
  }
  return { transport, handlers: () => handlers }
}
