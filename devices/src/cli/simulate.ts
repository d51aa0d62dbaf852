import { brokerUrls } from '@liquid-edge/config'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Command } from 'commander'
import { FleetError } from '@liquid-edge/protocol'
import { pino, type Logger } from 'pino'
import { simulateConfig, type SimulateConfig } from '../config.js'
import { createSimulatedFleet, fleetDeviceIds, type FleetStats, type SimulatedFleet } from '../fleet/fleet.js'
import { isFaulty } from '../simulated/faults.js'
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

/** A progress line while agents start: a live line on a TTY, a plain line per tenth when piped. */
function startedProgress(total: number): (started: number) => void {
  const tty = process.stdout.isTTY
  const step = Math.max(1, Math.ceil(total / 10))
  return (started) => {
    if (tty && (started % 100 === 0 || started === total))
      process.stdout.write(`\r\x1b[Kstarting agents ${started}/${total}${started === total ? '\n' : ''}`)
    else if (!tty && (started % step === 0 || started === total)) process.stdout.write(`starting agents ${started}/${total}\n`)
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
    brokerUrl: brokerUrls(config.brokerUrl),
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
    sessions: config.sessions,
    connectsPerS: config.connectsPerS,
    onStarted: startedProgress(config.count),
    ...(config.faults === undefined ? {} : { faults: config.faults }),
    ...(config.httpPort === undefined ? {} : { localApi: { port: config.httpPort, host: config.httpHost } }),
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
    `simulating ${config.count} × ${config.profile} (${ids[0] ?? ''} … ${ids.at(-1) ?? ''}) → ${config.brokerUrl} in ${Math.round(performance.now() - t0)} ms${control === null ? '' : `; fault control ${control.url}`}${fleet.localApiUrl === null ? '' : `; ${ids[0] ?? ''} local API ${fleet.localApiUrl}`}`,
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
  return simulateConfig
    .addOptions(
      new Command('simulate').description(
        'run N simulated devices, each a real agent with its own MQTT client, identity and state directory',
      ),
    )
    .action(
      action(async (o: Record<string, unknown>) => {
        const config = simulateConfig.load({ env, flags: o })
        await simulate(config)
      }),
    )
}
