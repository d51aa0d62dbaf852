import { readFile } from 'node:fs/promises'
import { createAgent } from '@liquid-edge/agent'
import { Command, Option } from 'commander'
import { FleetError } from '@liquid-edge/protocol'
import { pino } from 'pino'
import { loadConfig, RunConfigSchema, type RunConfig } from '../config.js'
import { createEdgeNodeDriver } from '../edge-node/driver.js'
import { SimulatedDriver } from '../simulated/driver.js'
import { FaultSettingsSchema } from '../simulated/faults.js'
import { HARDWARE_PROFILE_NAMES } from '../simulated/profiles.js'
import { startControlServer } from './control-http.js'
import { action, say } from './output.js'

/** Exit code of a simulated crash (a supervisor such as systemd restarts the agent). */
export const CRASH_EXIT_CODE = 70

async function readKeys(paths: readonly string[]): Promise<string[]> {
  return Promise.all(
    paths.map((p) =>
      readFile(p, 'utf8').catch((err: unknown) =>
        Promise.reject(new FleetError('CONFIG_INVALID', `cannot read publisher key ${p}`, { cause: err })),
      ),
    ),
  )
}

/** Wait for SIGINT/SIGTERM (or `durationMs`), then resolve. */
export function untilSignal(durationMs = 0): Promise<string> {
  return new Promise((resolve) => {
    const done = (why: string) => {
      process.off('SIGINT', onInt)
      process.off('SIGTERM', onTerm)
      clearTimeout(timer)
      resolve(why)
    }
    const onInt = () => {
      done('SIGINT')
    }
    const onTerm = () => {
      done('SIGTERM')
    }
    process.once('SIGINT', onInt)
    process.once('SIGTERM', onTerm)
    const timer = durationMs > 0 ? setTimeout(done, durationMs, 'duration') : undefined
  })
}

async function runAgent(config: RunConfig): Promise<void> {
  const logger = pino({ level: config.logLevel, base: { deviceId: config.deviceId } }, pino.destination(2))
  const simulated =
    config.driver === 'simulated'
      ? new SimulatedDriver({
          profile: config.profile,
          seed: config.seed,
          deviceId: config.deviceId,
          inference: config.inference,
          faults: config.faults ?? {},
        })
      : null
  const driver = simulated ?? (await createEdgeNodeDriver({ storageDir: config.stateDir, workerThresholdMs: config.workerThresholdMs }))
  const agent = await createAgent({
    deviceId: config.deviceId,
    root: config.root,
    stateDir: config.stateDir,
    driver,
    mqtt: {
      url: config.brokerUrl,
      ...(config.mqttUsername === undefined ? {} : { username: config.mqttUsername }),
      ...(config.mqttPassword === undefined ? {} : { password: config.mqttPassword }),
    },
    publisherKeys: await readKeys(config.publisherKeys),
    telemetryWindowMs: config.telemetryWindowMs,
    http: config.httpPort === undefined ? null : { port: config.httpPort, host: config.httpHost },
    logger,
  })
  agent.on('error', (err) => {
    logger.error({ err }, 'agent error')
  })
  let control: Awaited<ReturnType<typeof startControlServer>> | null = null
  if (simulated !== null && config.controlPort !== undefined) {
    const faults = simulated.faults
    control = await startControlServer(
      {
        setFaults: (_selection, change) => (faults.set(change), [config.deviceId]),
        faults: () => ({ [config.deviceId]: faults.settings }),
        stats: () => ({ deviceId: config.deviceId, ...agent.health() }),
      },
      config.controlPort,
    )
  }
  const crashed = new Promise<string>((resolve) => {
    simulated?.faults.on('changed', (s) => {
      if (s.crash) resolve('crash')
    })
  })
  say(
    `liquid-agent ${config.deviceId} (${driver.hardware}) → ${config.brokerUrl}${agent.httpUrl === null ? '' : `, local API ${agent.httpUrl}`}${control === null ? '' : `, fault control ${control.url}`}`,
  )
  const why = await Promise.race([untilSignal(), crashed])
  if (why === 'crash') {
    logger.error('simulated crash')
    process.exit(CRASH_EXIT_CODE) // no orderly shutdown: the broker publishes the Last Will
  }
  await control?.close()
  await agent.close()
  await driver.close()
}

/** `liquid-agent run`: one device against a broker. */
export function runCommand(env: Record<string, string | undefined>): Command {
  return new Command('run')
    .description('run the agent for one device (edge-node: onnxruntime on this machine; simulated: a hardware profile)')
    .option('--config <file>', 'JSON config file (keys as below, camelCase); env LLN_CONFIG')
    .option('--device-id <id>', 'device id = MQTT client id = username (LLN_DEVICE_ID)')
    .option('--broker <url>', 'broker URL, e.g. mqtt://127.0.0.1:1883 (LLN_BROKER_URL)')
    .option('--username <name>', 'MQTT username, default the device id (LLN_MQTT_USERNAME)')
    .option('--password <secret>', 'MQTT password (LLN_MQTT_PASSWORD)')
    .option('--root <root>', 'topic root (LLN_ROOT)')
    .option('--state-dir <dir>', 'state, slots and telemetry buffer (LLN_STATE_DIR)')
    .addOption(new Option('--driver <driver>', 'device driver (LLN_DRIVER)').choices(['edge-node', 'simulated']))
    .addOption(new Option('--profile <name>', 'simulated hardware profile (LLN_PROFILE)').choices(HARDWARE_PROFILE_NAMES))
    .option('--publisher-key <file...>', 'publisher public key PEM files (LLN_PUBLISHER_KEYS, comma-separated)')
    .option('--http-port <port>', 'local HTTP API port: /inference, /health, /metrics (LLN_HTTP_PORT)')
    .option('--telemetry-window-ms <ms>', 'telemetry window (LLN_TELEMETRY_WINDOW_MS)')
    .option('--control-port <port>', 'simulated driver: fault control HTTP port (LLN_CONTROL_PORT)')
    .option('--faults <json>', `simulated driver: initial faults, keys ${Object.keys(FaultSettingsSchema.shape).join(', ')} (LLN_FAULTS)`)
    .addOption(
      new Option('--inference <mode>', 'simulated driver: real onnxruntime or timing model (LLN_INFERENCE)').choices(['real', 'timing']),
    )
    .option('--log-level <level>', 'pino level (LLN_LOG_LEVEL)')
    .action(
      action(async (o: Record<string, unknown>) => {
        const config = loadConfig(RunConfigSchema, env, {
          config: o.config,
          deviceId: o.deviceId,
          brokerUrl: o.broker,
          mqttUsername: o.username,
          mqttPassword: o.password,
          root: o.root,
          stateDir: o.stateDir,
          driver: o.driver,
          profile: o.profile,
          publisherKeys: o.publisherKey,
          httpPort: o.httpPort,
          telemetryWindowMs: o.telemetryWindowMs,
          controlPort: o.controlPort,
          faults: o.faults,
          inference: o.inference,
          logLevel: o.logLevel,
        })
        await runAgent(config)
      }),
    )
}
