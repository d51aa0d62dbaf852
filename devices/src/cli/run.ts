import { brokerUrls } from '@liquid-edge/config'
import { readFile } from 'node:fs/promises'
import { createAgent } from '@liquid-edge/agent'
import { Command } from 'commander'
import { FleetError } from '@liquid-edge/protocol'
import { pino } from 'pino'
import { runConfig, type RunConfig } from '../config.js'
import { createEdgeNodeDriver } from '../edge-node/driver.js'
import { SimulatedDriver } from '../simulated/driver.js'
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
      url: brokerUrls(config.brokerUrl),
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
  return runConfig
    .addOptions(
      new Command('run').description(
        'run the agent for one device (edge-node: onnxruntime on this machine; simulated: a hardware profile)',
      ),
    )
    .action(
      action(async (o: Record<string, unknown>) => {
        const config = runConfig.load({ env, flags: o })
        await runAgent(config)
      }),
    )
}
