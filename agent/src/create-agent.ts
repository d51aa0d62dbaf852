import { Agent } from './agent.js'
import { parseSettings, type AgentOptions } from './options.js'
import { createFileStateStore } from './state/file-state-store.js'
import { createMqttTransport } from './transport/mqtt-transport.js'

/**
 * Create and start an agent: recover its state (an interrupted trial reverts), restore the model
 * slots into the driver, start the local HTTP API, telemetry and the MQTT session. Resolves when
 * ready (not when connected: the session connects and reconnects in the background).
 * @throws {FleetError} `CONFIG_INVALID` on bad options
 */
export async function createAgent(options: AgentOptions): Promise<Agent> {
  const settings = parseSettings(options)
  const store = options.stateStore ?? (await createFileStateStore(settings.stateDir))
  const transport =
    options.transport ??
    createMqttTransport({
      ...(options.mqtt ?? { url: '' }),
      deviceId: settings.deviceId,
      root: settings.root,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
      ...(options.logger === undefined ? {} : { logger: options.logger.child({ component: 'mqtt', deviceId: settings.deviceId }) }),
    })
  const agent = new Agent(settings, options, store, transport)
  try {
    await agent.start()
  } catch (err) {
    await agent.close().catch(() => undefined)
    throw err
  }
  return agent
}
