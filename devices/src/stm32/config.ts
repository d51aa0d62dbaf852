/** Configuration of `liquid-agent gateway` and `liquid-agent emulate-stm32` (flags, `LLN_*` env, JSON file). */
import * as z from 'zod'
import { DEFAULT_ROOT, DeviceIdSchema, isValidRoot } from '@liquid-edge/protocol'
import { list } from '../config.js'

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
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
    gatewayId: DeviceIdSchema,
    brokerUrl: z
      .string()
      .regex(/^(mqtts?|tcp|ssl|wss?):\/\//, 'brokerUrl must be an mqtt:// or mqtts:// URL')
      .default('mqtt://127.0.0.1:1883'),
    mqttUsername: z.string().optional(),
    mqttPassword: z.string().optional(),
    root: z.string().refine(isValidRoot, 'invalid topic root').default(DEFAULT_ROOT),
    stateDir: z.string().min(1).default('./gateway-state'),
    publisherKeys: list.pipe(z.array(z.string()).min(1, 'at least one publisher key file is needed to verify models')),
    /** Serial ports, `path` or `path=deviceId` (comma-separated in env). */
    ports: list.pipe(z.array(portSpec)).default([]),
    /** Also take every port with this USB `vid:pid`. */
    usb: usbId.optional(),
    baudRate: z.coerce.number().int().min(1200).max(12_000_000).default(115200),
    healthIntervalMs: z.coerce.number().int().min(50).max(600_000).default(2000),
    telemetryWindowMs: z.coerce.number().int().min(10).max(3_600_000).default(1000),
    logLevel: logLevel.default('info'),
  })
  .refine((c) => c.ports.length > 0 || c.usb !== undefined, { message: 'name at least one serial port (--port) or a USB id (--usb)' })
export type GatewayConfig = Readonly<z.output<typeof GatewayConfigSchema>>

export const EmulateConfigSchema = z.object({
  count: z.coerce.number().int().min(1).max(64).default(1),
  mcuId: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,40}$/)
    .default('emu'),
  /** Symlink the pty here (`-<n>` appended when count > 1). */
  link: z.string().optional(),
  /** Pace the emulated line at this rate; unset = as fast as the pty goes. */
  lineBaud: z.coerce.number().int().min(1200).max(12_000_000).optional(),
  bitErrorRate: z.coerce.number().min(0).max(0.1).default(0),
  dropRate: z.coerce.number().min(0).max(0.1).default(0),
  seed: z.coerce.number().int().min(0).default(1),
  timing: z.enum(['realtime', 'instant']).default('realtime'),
})
export type EmulateConfig = Readonly<z.output<typeof EmulateConfigSchema>>
