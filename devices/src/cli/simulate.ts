import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Command, Option } from 'commander'
import { FleetError } from '@liquid-edge/protocol'
import { pino, type Logger } from 'pino'
import { loadConfig, SimulateConfigSchema, type SimulateConfig } from '../config.js'
import { createSimulatedFleet, fleetDeviceIds, type FleetStats, type SimulatedFleet } from '../fleet/fleet.js'
import { isFaulty } from '../simulated/faults.js'
import { HARDWARE_PROFILE_NAMES } from '../simulated/profiles.js'
import { startControlServer } from './control-http.js'
import { readCredentials, registerDevices } from './credentials.js'
import { action, say } from './output.js'
import { untilSignal } from './run.js'

/** `online 198/200 · active 190 failed 2 idle 6 · telemetry 199.0/s · inferences 996/s (0 err/s) · faulty 3` */
export function formatStats(s: FleetStats): string {
  const phases = Object.entries(s.phases)
    .map(([p, n]) => `${p} ${n}`)
    .join(' ')
  return `online ${s.online}/${s.count} · ${phases === '' ? 'starting' : phases} · telemetry ${s.telemetryPerS.toFixed(1)}/s · inferences ${Math.round(s.inferencesPerS)}/s (${Math.round(s.errorsPerS)} err/s) · faulty ${s.faulty}`
}

async function credentialsFor(config: SimulateConfig, ids: string[], logger: Logger): Promise<Map<string, string>> {
  const known = config.credentialsFile === undefined ? new Map<string, string>() : await readCredentials(config.credentialsFile)
  if (config.controllerUrl !== undefined) {
    return registerDevices({
      controllerUrl: config.controllerUrl,
      token: config.controllerToken,
      ids,
      labels: config.labels,
      provision: config.auth === 'provision',
      known,
      credentialsFile: config.credentialsFile,
    })
  }
  if (Object.keys(config.labels).length > 0)
    logger.warn({ labels: config.labels }, 'labels are applied when devices are registered: pass --controller-url to register them')
  return known
}

function startSummary(fleet: SimulatedFleet, everyMs: number): () => void {
  const tty = process.stdout.isTTY
  const timer = setInterval(
    () => {
      const line = formatStats(fleet.stats())
      process.stdout.write(tty ? `\r\x1b[K${line}` : `${new Date().toISOString()} ${line}\n`)
    },
    tty ? Math.min(everyMs, 1000) : everyMs,
  )
  return () => {
    clearInterval(timer)
    if (tty) process.stdout.write('\n')
  }
}

async function simulate(config: SimulateConfig): Promise<void> {
  const logger = pino({ level: config.logLevel }, pino.destination(2))
  const ids = fleetDeviceIds(config.count, config.idPrefix)
  const passwords = await credentialsFor(config, ids, logger)
  const missing = config.credentialsFile !== undefined && passwords.size > 0 ? ids.filter((id) => !passwords.has(id)) : []
  if (missing.length > 0)
    throw new FleetError('CONFIG_INVALID', `no credentials for ${missing.length} devices (first: ${missing[0] ?? ''})`)
  const publisherKeys = await Promise.all(config.publisherKeys.map((p) => readFile(p, 'utf8')))
  const t0 = performance.now()
  const fleet = await createSimulatedFleet({
    ids,
    passwords,
    brokerUrl: config.brokerUrl,
    root: config.root,
    profile: config.profile,
    stateRoot: join(config.stateDir, config.idPrefix),
    publisherKeys,
    seed: config.seed,
    inference: config.inference,
    ratePerS: config.rate,
    telemetryWindowMs: config.telemetryWindowMs,
    bufferOnDisk: config.bufferOnDisk,
    stateStore: config.stateStore,
    linkProxy: config.linkProxy,
    ...(config.faults === undefined ? {} : { faults: config.faults }),
    logger,
  })
  fleet.on('error', (err) => {
    logger.warn({ err }, 'simulated device error')
  })
  const control =
    config.controlPort === undefined
      ? null
      : await startControlServer(
          {
            setFaults: (selection, change) => fleet.setFaults(selection, change),
            faults: (faultyOnly) =>
              Object.fromEntries(
                fleet.devices.filter((d) => !faultyOnly || isFaulty(d.faults.settings)).map((d) => [d.id, d.faults.settings]),
              ),
            stats: () => fleet.stats(),
          },
          config.controlPort,
        )
  say(
    `simulating ${config.count} × ${config.profile} (${ids[0] ?? ''} … ${ids.at(-1) ?? ''}) → ${config.brokerUrl} in ${Math.round(performance.now() - t0)} ms${control === null ? '' : `; fault control ${control.url}`}`,
  )
  const stop = startSummary(fleet, config.summaryMs)
  await untilSignal(config.durationS * 1000)
  stop()
  say(formatStats(fleet.stats()))
  await control?.close()
  await fleet.close()
}

/** `liquid-agent simulate`: N simulated agents in one process. */
export function simulateCommand(env: Record<string, string | undefined>): Command {
  return new Command('simulate')
    .description('run N simulated devices, each a real agent with its own MQTT client, identity and state directory')
    .option('--config <file>', 'JSON config file (keys as below, camelCase); env LLN_CONFIG')
    .option('--count <n>', 'number of devices (LLN_COUNT)')
    .addOption(new Option('--profile <name>', 'hardware profile (LLN_PROFILE)').choices(HARDWARE_PROFILE_NAMES))
    .option('--labels <k=v,…>', 'labels to register the devices with (LLN_LABELS)')
    .option('--id-prefix <prefix>', 'device ids are <prefix>-0001 … (LLN_ID_PREFIX)')
    .option('--broker <url>', 'broker URL (LLN_BROKER_URL)')
    .option('--root <root>', 'topic root (LLN_ROOT)')
    .option('--state-dir <dir>', 'one state directory per device inside (LLN_STATE_DIR)')
    .option('--publisher-key <file...>', 'publisher public key PEM files (LLN_PUBLISHER_KEYS)')
    .option('--rate <n>', 'inferences per second per device (LLN_RATE)')
    .option('--telemetry-window-ms <ms>', 'telemetry window (LLN_TELEMETRY_WINDOW_MS)')
    .addOption(new Option('--inference <mode>', 'timing model or real onnxruntime (LLN_INFERENCE)').choices(['real', 'timing']))
    .option('--seed <n>', 'seed of latency jitter and fault draws (LLN_SEED)')
    .option('--faults <json>', 'initial faults of every device (LLN_FAULTS)')
    .option('--control-port <port>', 'fault control HTTP endpoint on 127.0.0.1 (LLN_CONTROL_PORT)')
    .option('--credentials-file <file>', 'id:secret lines used as MQTT credentials (LLN_CREDENTIALS_FILE)')
    .option('--controller-url <url>', 'register the devices (and labels) at this controller (LLN_CONTROLLER_URL)')
    .option('--controller-token <token>', 'operator token for registration (LLN_CONTROLLER_TOKEN)')
    .addOption(new Option('--auth <mode>', 'provision a broker credential per device, or none (LLN_AUTH)').choices(['none', 'provision']))
    .option('--no-link-proxy', 'connect directly (flapping and abrupt crashes need the proxy)')
    .option('--buffer-on-disk <bool>', 'offline telemetry buffer on disk (LLN_BUFFER_ON_DISK)')
    .addOption(
      new Option('--state-store <where>', 'agent state on disk (fsync) or in memory, for big fleets (LLN_STATE_STORE)').choices([
        'disk',
        'memory',
      ]),
    )
    .option('--summary-ms <ms>', 'summary interval (LLN_SUMMARY_MS)')
    .option('--duration-s <s>', 'stop after this many seconds (LLN_DURATION_S)')
    .option('--log-level <level>', 'pino level, logs go to stderr (LLN_LOG_LEVEL)')
    .action(
      action(async (o: Record<string, unknown>) => {
        const config = loadConfig(SimulateConfigSchema, env, {
          config: o.config,
          count: o.count,
          profile: o.profile,
          labels: o.labels,
          idPrefix: o.idPrefix,
          brokerUrl: o.broker,
          root: o.root,
          stateDir: o.stateDir,
          publisherKeys: o.publisherKey,
          rate: o.rate,
          telemetryWindowMs: o.telemetryWindowMs,
          inference: o.inference,
          seed: o.seed,
          faults: o.faults,
          controlPort: o.controlPort,
          credentialsFile: o.credentialsFile,
          controllerUrl: o.controllerUrl,
          controllerToken: o.controllerToken,
          auth: o.auth,
          linkProxy: o.linkProxy === false ? false : undefined,
          bufferOnDisk: o.bufferOnDisk,
          stateStore: o.stateStore,
          summaryMs: o.summaryMs,
          durationS: o.durationS,
          logLevel: o.logLevel,
        })
        await simulate(config)
      }),
    )
}
