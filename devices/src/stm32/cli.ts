/**
 * `liquid-agent gateway` (one process for the MCUs on this host's serial ports) and
 * `liquid-agent emulate-stm32 --pty` (emulated MCUs on pseudo-terminals).
 */
import { brokerUrls } from '@liquid-edge/config'
import { readFile } from 'node:fs/promises'
import { Command } from 'commander'
import { FleetError } from '@liquid-edge/protocol'
import { pino } from 'pino'
import { action, say } from '../cli/output.js'
import { untilSignal } from '../cli/run.js'
import { emulateConfig, gatewayConfig, type EmulateConfig, type GatewayConfig } from './config.js'
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
      url: brokerUrls(config.brokerUrl),
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

/** The `gateway` command. */
export function gatewayCommand(env: Record<string, string | undefined>): Command {
  return gatewayConfig
    .addOptions(
      new Command('gateway').description(
        'run one gateway for the STM32 MCUs on this host’s serial ports: one agent per MCU, each its own device',
      ),
    )
    .action(
      action(async (o: Record<string, unknown>) => {
        const config = gatewayConfig.load({ env, flags: o })
        await runGateway(config)
      }),
    )
}

/** The `emulate-stm32` command. */
export function emulateStm32Command(env: Record<string, string | undefined>): Command {
  return emulateConfig
    .addOptions(
      new Command('emulate-stm32').description(
        'emulate stm32h743 MCUs speaking the serial protocol, each on a pseudo-terminal (needs python3)',
      ),
    )
    .option('--pty', 'serve on pseudo-terminals (the only mode; kept explicit for scripts)', true)
    .action(
      action(async (o: Record<string, unknown>) => {
        const config = emulateConfig.load({ env, flags: o })
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
