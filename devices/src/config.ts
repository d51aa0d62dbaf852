import { readFileSync } from 'node:fs'
import * as z from 'zod'
import { DEFAULT_ROOT, DeviceIdSchema, FleetError, isValidRoot } from '@liquid-edge/protocol'
import { FaultSettingsSchema } from './simulated/faults.js'
import { HARDWARE_PROFILE_NAMES } from './simulated/profiles.js'

const port = z.coerce.number().int().min(0).max(65535)
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')])
/** A list from JSON or a comma-separated string (flags, env). */
export const list = z.union([
  z.array(z.string().min(1)),
  z.string().transform((s) =>
    s
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== ''),
  ),
])
const faults = z.union([
  FaultSettingsSchema.partial(),
  z.string().transform((s, ctx) => {
    try {
      return FaultSettingsSchema.partial().parse(JSON.parse(s))
    } catch {
      ctx.addIssue({ code: 'custom', message: 'faults must be a JSON object of fault settings' })
      return z.NEVER
    }
  }),
])
const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

/** Settings shared by `run` and `simulate`. */
const CommonSchema = z.object({
  /** Broker URL (`mqtt://`, `mqtts://`). */
  brokerUrl: z
    .string()
    .regex(/^(mqtts?|tcp|ssl|wss?):\/\//, 'brokerUrl must be an mqtt:// or mqtts:// URL')
    .default('mqtt://127.0.0.1:1883'),
  root: z.string().refine(isValidRoot, 'invalid topic root').default(DEFAULT_ROOT),
  /** PEM files of publisher public keys (comma-separated in env). */
  publisherKeys: list.pipe(z.array(z.string()).min(1, 'at least one publisher key file is needed to verify models')),
  telemetryWindowMs: z.coerce.number().int().min(10).max(3_600_000).default(1000),
  /** HTTP port of the fault control endpoint (simulated devices); unset = none. */
  controlPort: port.optional(),
  logLevel: logLevel.default('info'),
  /** Initial faults of simulated devices, e.g. `{"latencyFactor":3}`. */
  faults: faults.optional(),
  seed: z.coerce.number().int().min(0).default(1),
  inference: z.enum(['real', 'timing']).default('timing'),
  profile: z.enum(HARDWARE_PROFILE_NAMES).default('stm32h743'),
})

/** `liquid-agent run`: one device. */
export const RunConfigSchema = CommonSchema.extend({
  deviceId: DeviceIdSchema,
  mqttUsername: z.string().optional(),
  mqttPassword: z.string().optional(),
  stateDir: z.string().min(1).default('./agent-state'),
  driver: z.enum(['edge-node', 'simulated']).default('edge-node'),
  /** Local HTTP API port (`/inference`, `/health`, `/metrics`); unset = disabled. */
  httpPort: port.optional(),
  httpHost: z.string().default('127.0.0.1'),
  /** Edge-node: models slower than this (median ms) run in a worker thread. */
  workerThresholdMs: z.coerce.number().positive().default(1),
})
export type RunConfig = Readonly<z.output<typeof RunConfigSchema>>

/** `liquid-agent simulate`: a fleet in one process. */
export const SimulateConfigSchema = CommonSchema.extend({
  count: z.coerce.number().int().min(1).max(100_000),
  idPrefix: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,40}$/)
    .default('sim'),
  /** Labels the devices are registered with, `k=v,k=v` (applied when a controller URL is given). */
  labels: z
    .string()
    .default('')
    .transform((s, ctx) => {
      const out: Record<string, string> = {}
      for (const pair of s.split(',').filter((p) => p.trim() !== '')) {
        const m = /^\s*([A-Za-z0-9._-]{1,63})=([A-Za-z0-9._-]{1,63})\s*$/.exec(pair)
        if (m === null) ctx.addIssue({ code: 'custom', message: `label '${pair}' is not key=value` })
        else out[m[1] ?? ''] = m[2] ?? ''
      }
      return out
    }),
  stateDir: z.string().min(1).default('./sim-state'),
  /** Inferences per second per device. */
  rate: z.coerce.number().min(0).max(1000).default(5),
  /** `id:secret` lines; devices use them as MQTT credentials. */
  credentialsFile: z.string().optional(),
  /** Controller API to register the devices at (with their labels). */
  controllerUrl: z.url().optional(),
  controllerToken: z.string().optional(),
  /** `provision`: register each device with a broker credential (secrets appended to the credentials file); `none`: bulk-register without. */
  auth: z.enum(['none', 'provision']).default('none'),
  linkProxy: bool.default(true),
  bufferOnDisk: bool.default(true),
  /** Agent state on `disk` (atomic + fsync, realistic) or in `memory` (fast start for 10,000 devices). */
  stateStore: z.enum(['disk', 'memory']).default('disk'),
  /** Print the summary every this many ms (a live line on a TTY). */
  summaryMs: z.coerce.number().int().min(100).default(5000),
  /** Stop after this many seconds (0 = run until interrupted). */
  durationS: z.coerce.number().min(0).default(0),
}).superRefine((c, ctx) => {
  if (c.auth === 'provision' && c.controllerUrl === undefined)
    ctx.addIssue({ code: 'custom', path: ['auth'], message: "'auth=provision' needs 'controllerUrl'" })
})
export type SimulateConfig = Readonly<z.output<typeof SimulateConfigSchema>>

/** `brokerUrl` → `LLN_BROKER_URL`. */
export function envName(key: string): string {
  return `LLN_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`
}

function fromEnv(keys: readonly string[], env: Record<string, string | undefined>): Record<string, unknown> {
  const raw: Record<string, unknown> = {}
  for (const key of keys) {
    const v = env[envName(key)]
    if (v !== undefined && v !== '') raw[key] = v
  }
  return raw
}

function fromFile(path: string | undefined): Record<string, unknown> {
  if (path === undefined) return {}
  try {
    const value: unknown = JSON.parse(readFileSync(path, 'utf8'))
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object')
    return value as Record<string, unknown>
  } catch (err) {
    throw new FleetError('CONFIG_INVALID', `config file ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
}

/**
 * Configuration from (lowest first) defaults, a JSON config file (`LLN_CONFIG` or `--config`), env
 * `LLN_<KEY>` and command-line flags. @throws FleetError `CONFIG_INVALID` listing every bad value.
 */
export function loadConfig<S extends z.ZodObject>(
  schema: S,
  env: Record<string, string | undefined>,
  flags: Record<string, unknown> = {},
): Readonly<z.output<S>> {
  const keys = Object.keys(schema.shape)
  const file = fromFile((flags.config as string | undefined) ?? env.LLN_CONFIG)
  const defined = Object.fromEntries(Object.entries(flags).filter(([k, v]) => v !== undefined && k !== 'config'))
  const parsed = schema.safeParse({ ...file, ...fromEnv(keys, env), ...defined })
  if (!parsed.success) throw new FleetError('CONFIG_INVALID', `invalid configuration:\n${z.prettifyError(parsed.error)}`)
  return Object.freeze(parsed.data)
}
