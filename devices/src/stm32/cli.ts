/**
 * `liquid-agent gateway` (one process for the MCUs on this host's serial ports) and
 * `liquid-agent emulate-stm32 --pty` (emulated MCUs on pseudo-terminals).
 */
import { readFile } from 'node:fs/promises'
import { Command, Option } from 'commander'
import { FleetError } from '@liquid-edge/protocol'
import { pino } from 'pino'
import { action, say } from '../cli/output.js'
import { untilSignal } from '../cli/run.js'
import { loadConfig } from '../config.js'
import { EmulateConfigSchema, GatewayConfigSchema, type EmulateConfig, type GatewayConfig } from './config.js'
import { exposeOnPty, type PtyEmulator } from './emulator/expose-pty.js'
import { Stm32Emulator } from './emulator/stm32-emulator.js'
import { createStm32Gateway, findPortsByUsbId } from './gateway/gateway.js'

export interface RunningEmulators {
  readonly items: readonly { mcuId: string; path: string; emulator: Stm32Emulator }[]
  close(): Promise<void>
}

/** Start `count` emulated stm32h743 MCUs, each on its own pseudo-terminal. */
export async function startPtyEmulators(config: EmulateConfig): Promise<RunningEmulators> {
  const started: (PtyEmulator & { mcuId: string; emulator: Stm32Emulator })[] = []
  const close = async (): Promise<void> => {
    await Promise.all(started.map((s) => s.close()))
  }
  try {
    for (let i = 0; i < config.count; i++) {
      const mcuId = config.count === 1 ? config.mcuId : `${config.mcuId}-${i}`
      const emulator = new Stm32Emulator({ mcuId, timing: config.timing })
      const link = config.link === undefined ? undefined : config.count === 1 ? config.link : `${config.link}-${i}`
      const line = {
        bitErrorRate: config.bitErrorRate,
        dropRate: config.dropRate,
        seed: config.seed + i,
        ...(config.lineBaud === undefined ? {} : { baudRate: config.lineBaud }),
      }
      const pty = await exposeOnPty(emulator, { line, ...(link === undefined ? {} : { link }) })
      started.push(Object.assign(pty, { mcuId, emulator }))
    }
  } catch (err) {
    await close()
    throw err
  }
  return { items: started.map((s) => ({ mcuId: s.mcuId, path: s.path, emulator: s.emulator })), close }
}

async function runGateway(config: GatewayConfig): Promise<void> {
  const logger = pino({ level: config.logLevel, base: { gatewayId: config.gatewayId } }, pino.destination(2))
  const usb = config.usb?.split(':')
  const found = usb === undefined ? [] : await findPortsByUsbId(usb[0] ?? '', usb[1] ?? '')
  const ports = [...config.ports, ...found.filter((p) => !config.ports.some((c) => c.path === p)).map((path) => ({ path }))]
  if (ports.length === 0) throw new FleetError('CONFIG_INVALID', `no serial port matches USB id ${config.usb ?? ''}`)
  const publisherKeys = await Promise.all(
    config.publisherKeys.map((p) =>
      readFile(p, 'utf8').catch((err: unknown) =>
        Promise.reject(new FleetError('CONFIG_INVALID', `cannot read publisher key ${p}`, { cause: err })),
      ),
    ),
  )
  const gateway = await createStm32Gateway({
    gatewayId: config.gatewayId,
    mqtt: {
      url: config.brokerUrl,
      ...(config.mqttUsername === undefined ? {} : { username: config.mqttUsername }),
      ...(config.mqttPassword === undefined ? {} : { password: config.mqttPassword }),
    },
    root: config.root,
    stateDir: config.stateDir,
    publisherKeys,
    ports,
    baudRate: config.baudRate,
    healthIntervalMs: config.healthIntervalMs,
    agent: { telemetryWindowMs: config.telemetryWindowMs },
    logger,
  })
  gateway.on('childChanged', (c) => {
    say(`${c.path}: ${c.deviceId ?? '(unknown id)'} ${c.state}`)
  })
  say(
    `liquid-agent gateway ${config.gatewayId} → ${config.brokerUrl}, ${ports.length} serial port(s): ${ports.map((p) => p.path).join(', ')}`,
  )
  await untilSignal()
  await gateway.close()
}

/** Repeated `--port` flags accumulate. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** The `gateway` command. */
export function gatewayCommand(env: Record<string, string | undefined>): Command {
  return new Command('gateway')
    .description('run one gateway for the STM32 MCUs on this host’s serial ports: one agent per MCU, each its own device')
    .option('--config <file>', 'JSON config file (keys as below, camelCase); env LLN_CONFIG')
    .option('--gateway-id <id>', 'gateway id = MQTT client id = username; the broker lists its children (LLN_GATEWAY_ID)')
    .option('--broker <url>', 'broker URL (LLN_BROKER_URL)')
    .option('--username <name>', 'MQTT username, default the gateway id (LLN_MQTT_USERNAME)')
    .option('--password <secret>', 'MQTT password (LLN_MQTT_PASSWORD)')
    .option('--root <root>', 'topic root (LLN_ROOT)')
    .option('--state-dir <dir>', 'per-child state and the shared artifact cache (LLN_STATE_DIR)')
    .option('--publisher-key <file...>', 'publisher public key PEM files (LLN_PUBLISHER_KEYS)')
    .option('--port <path[=deviceId]>', 'a serial port with an MCU, repeatable; device id defaults to stm32-<MCU id> (LLN_PORTS)', collect)
    .option('--usb <vid:pid>', 'also every serial port with this USB id, e.g. 0483:374b (LLN_USB)')
    .option('--baud <rate>', 'UART baud rate, default 115200 (LLN_BAUD_RATE)')
    .option('--health-interval-ms <ms>', 'probe period of quiet and lost MCUs (LLN_HEALTH_INTERVAL_MS)')
    .option('--telemetry-window-ms <ms>', 'telemetry window (LLN_TELEMETRY_WINDOW_MS)')
    .option('--log-level <level>', 'pino level (LLN_LOG_LEVEL)')
    .action(
      action(async (o: Record<string, unknown>) => {
        const flags = {
          config: o.config,
          gatewayId: o.gatewayId,
          brokerUrl: o.broker,
          mqttUsername: o.username,
          mqttPassword: o.password,
          root: o.root,
        }
        const more = {
          stateDir: o.stateDir,
          publisherKeys: o.publisherKey,
          ports: o.port,
          usb: o.usb,
          baudRate: o.baud,
          healthIntervalMs: o.healthIntervalMs,
        }
        const config = loadConfig(GatewayConfigSchema, env, {
          ...flags,
          ...more,
          telemetryWindowMs: o.telemetryWindowMs,
          logLevel: o.logLevel,
        })
        await runGateway(config)
      }),
    )
}

/** The `emulate-stm32` command. */
export function emulateStm32Command(env: Record<string, string | undefined>): Command {
  return new Command('emulate-stm32')
    .description('emulate stm32h743 MCUs speaking the serial protocol, each on a pseudo-terminal (needs python3)')
    .option('--pty', 'serve on pseudo-terminals (the only mode; kept explicit for scripts)', true)
    .option('--count <n>', 'how many MCUs (LLN_COUNT)')
    .option('--mcu-id <id>', 'MCU id, suffixed -<n> when count > 1 (LLN_MCU_ID)')
    .option('--link <path>', 'symlink each pty here, e.g. /tmp/ttySTM32 (LLN_LINK)')
    .option('--line-baud <rate>', 'pace the emulated line at this rate (LLN_LINE_BAUD)')
    .option('--bit-error-rate <p>', 'probability that a byte gets a flipped bit (LLN_BIT_ERROR_RATE)')
    .option('--drop-rate <p>', 'probability that a byte is lost (LLN_DROP_RATE)')
    .option('--seed <n>', 'fault PRNG seed (LLN_SEED)')
    .addOption(new Option('--timing <mode>', 'wait the modelled flash/inference time (LLN_TIMING)').choices(['realtime', 'instant']))
    .action(
      action(async (o: Record<string, unknown>) => {
        const config = loadConfig(EmulateConfigSchema, env, {
          count: o.count,
          mcuId: o.mcuId,
          link: o.link,
          lineBaud: o.lineBaud,
          bitErrorRate: o.bitErrorRate,
          dropRate: o.dropRate,
          seed: o.seed,
          timing: o.timing,
        })
        const running = await startPtyEmulators(config)
        for (const item of running.items) say(`stm32h743 emulator ${item.mcuId} on ${item.path}`)
        await untilSignal()
        await running.close()
      }),
    )
}

/** Add `gateway` and `emulate-stm32` to a `liquid-agent` program. */
export function registerStm32Commands(program: Command, env: Record<string, string | undefined>): Command {
  return program.addCommand(gatewayCommand(env)).addCommand(emulateStm32Command(env))
}
