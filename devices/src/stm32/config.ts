/** Configuration of `liquid-agent gateway` and `liquid-agent emulate-stm32` (flags, `LLN_*` env, JSON file). */
import * as z from 'zod'
import { defineConfig } from '@liquid-edge/config'
import { DeviceIdSchema } from '@liquid-edge/protocol'
import {
  agentFlags,
  BrokerUrlSchema,
  LogLevelSchema,
  MqttPasswordSchema,
  MqttUsernameSchema,
  PublisherKeysSchema,
  RootSchema,
  TelemetryWindowSchema,
} from '../config.js'

const usbId = z.string().regex(/^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$/, 'usb must be vid:pid in hex, e.g. 0483:374b')
/** `path` or `path=deviceId`. */
const portSpec = z.string().transform((s, ctx) => {
  const at = s.lastIndexOf('=')
  if (at === -1) return { path: s }
  const id = DeviceIdSchema.safeParse(s.slice(at + 1))
  if (!id.success) {
    ctx.addIssue({ code: 'custom', message: `invalid device id in port ${s}` })
    return z.NEVER
  }
  return { path: s.slice(0, at), deviceId: id.data }
})

export const GatewayConfigSchema = z
  .object({
    gatewayId: DeviceIdSchema.describe('gateway id = MQTT client id = username; the broker lists its children'),
    brokerUrl: BrokerUrlSchema,
    mqttUsername: MqttUsernameSchema,
    mqttPassword: MqttPasswordSchema,
    root: RootSchema,
    stateDir: z.string().min(1).default('./gateway-state').describe('per-child state and the shared artifact cache'),
    publisherKeys: PublisherKeysSchema,
    ports: z
      .array(portSpec)
      .default([])
      .describe(
        'a serial port with an MCU, path or path=deviceId (repeatable; comma-separated in env); device id defaults to stm32-<MCU id>',
      ),
    usb: usbId.optional().describe('also every serial port with this USB id, e.g. 0483:374b'),
    baudRate: z.coerce.number().int().min(1200).max(12_000_000).default(115200).describe('UART baud rate'),
    healthIntervalMs: z.coerce.number().int().min(50).max(600_000).default(2000).describe('probe period of quiet and lost MCUs'),
    telemetryWindowMs: TelemetryWindowSchema,
    logLevel: LogLevelSchema,
  })
  .refine((c) => c.ports.length > 0 || c.usb !== undefined, { message: 'name at least one serial port (--port) or a USB id (--usb)' })
export type GatewayConfig = Readonly<z.output<typeof GatewayConfigSchema>>

export const EmulateConfigSchema = z.object({
  count: z.coerce.number().int().min(1).max(64).default(1).describe('how many MCUs'),
  mcuId: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,40}$/)
    .default('emu')
    .describe('MCU id, suffixed -<n> when count > 1'),
  link: z.string().optional().describe('symlink each pty here, e.g. /tmp/ttySTM32 (-<n> appended when count > 1)'),
  lineBaud: z.coerce
    .number()
    .int()
    .min(1200)
    .max(12_000_000)
    .optional()
    .describe('pace the emulated line at this rate; unset = as fast as the pty goes'),
  bitErrorRate: z.coerce.number().min(0).max(0.1).default(0).describe('probability that a byte gets a flipped bit'),
  dropRate: z.coerce.number().min(0).max(0.1).default(0).describe('probability that a byte is lost'),
  seed: z.coerce.number().int().min(0).default(1).describe('fault PRNG seed'),
  timing: z.enum(['realtime', 'instant']).default('realtime').describe('wait the modelled flash and inference times, or not'),
})
export type EmulateConfig = Readonly<z.output<typeof EmulateConfigSchema>>

/** Flags, env and file of `liquid-agent gateway`. */
export const gatewayConfig = defineConfig({
  name: 'gateway',
  schema: GatewayConfigSchema,
  settings: {
    ...agentFlags(GatewayConfigSchema),
    ports: { flag: '--port <path[=deviceId]>', repeatable: true },
    baudRate: { flag: '--baud <rate>' },
  },
})
/** Flags, env and file of `liquid-agent emulate-stm32`. */
export const emulateConfig = defineConfig({ name: 'emulator', schema: EmulateConfigSchema })
