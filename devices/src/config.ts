import { brokerUrlsSchema, defineConfig, type SettingOptions } from '@liquid-edge/config'
import * as z from 'zod'
import { DEFAULT_ROOT, DeviceIdSchema, isValidRoot } from '@liquid-edge/protocol'
import { SIMULATED_INFERENCE } from './simulated/driver.js'
import { FaultSettingsSchema } from './simulated/faults.js'
import { HARDWARE_PROFILE_NAMES } from './simulated/profiles.js'

const port = z.coerce.number().int().min(0).max(65535)
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
/** Settings every `liquid-agent` command that connects shares. */
export const BrokerUrlSchema = brokerUrlsSchema('mqtt://127.0.0.1:1883')
export const RootSchema = z.string().refine(isValidRoot, 'invalid topic root').default(DEFAULT_ROOT).describe('topic root')
export const PublisherKeysSchema = z
  .array(z.string().min(1))
  .min(1, 'at least one publisher key file is needed to verify models')
  .describe('publisher public key PEM files (comma-separated in env)')
export const TelemetryWindowSchema = z.coerce.number().int().min(10).max(3_600_000).default(1000).describe('telemetry window')
export const LogLevelSchema = z
  .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  .default('info')
  .describe('pino log level; logs go to stderr')
export const MqttUsernameSchema = z.string().optional().describe('MQTT username; default the id')
export const MqttPasswordSchema = z.string().optional().describe('MQTT password')

/** Settings shared by `run` and `simulate`. */
const CommonSchema = z.object({
  brokerUrl: BrokerUrlSchema,
  root: RootSchema,
  publisherKeys: PublisherKeysSchema,
  telemetryWindowMs: TelemetryWindowSchema,
  controlPort: port.optional().describe('simulated devices: fault control HTTP port on 127.0.0.1; unset = none'),
  logLevel: LogLevelSchema,
  faults: faults
    .optional()
    .describe(`simulated devices: initial faults as JSON, keys ${Object.keys(FaultSettingsSchema.shape).join(', ')}`),
  seed: z.coerce.number().int().min(0).default(1).describe('seed of latency jitter and fault draws'),
  inference: z
    .enum(SIMULATED_INFERENCE)
    .default('real')
    .describe("simulated outputs: real (the model runs) or echo-golden (the package's expected outputs; checks cannot fail)"),
  profile: z.enum(HARDWARE_PROFILE_NAMES).default('stm32h743').describe('simulated hardware profile'),
})

/** `liquid-agent run`: one device. */
export const RunConfigSchema = CommonSchema.extend({
  deviceId: DeviceIdSchema.describe('device id = MQTT client id = username'),
  mqttUsername: MqttUsernameSchema,
  mqttPassword: MqttPasswordSchema,
  stateDir: z.string().min(1).default('./agent-state').describe('state, slots and telemetry buffer'),
  driver: z
    .enum(['edge-node', 'simulated'])
    .default('edge-node')
    .describe('device driver: edge-node (onnxruntime on this machine) or simulated (a hardware profile)'),
  httpPort: port.optional().describe('local HTTP API port (/inference, /health, /metrics); unset = disabled'),
  httpHost: z.string().default('127.0.0.1').describe('address the local HTTP API binds to'),
  workerThresholdMs: z.coerce
    .number()
    .positive()
    .default(1)
    .describe('edge-node: models slower than this (median ms) run in a worker thread'),
})
export type RunConfig = Readonly<z.output<typeof RunConfigSchema>>

/** `liquid-agent simulate`: a fleet in one process. */
export const SimulateConfigSchema = CommonSchema.extend({
  count: z.coerce.number().int().min(1).max(100_000).describe('number of devices'),
  idPrefix: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,40}$/)
    .default('sim')
    .describe('device ids are <prefix>-0001 …'),
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
    })
    .describe('labels to register the devices with, k=v,k=v (with a controller URL)'),
  stateDir: z.string().min(1).default('./sim-state').describe('one state directory per device inside'),
  rate: z.coerce.number().min(0).max(1000).default(5).describe('inferences per second per device'),
  credentialsFile: z.string().optional().describe('id:secret lines used as MQTT credentials'),
  httpPort: port
    .optional()
    .describe("the first device's local HTTP API (/inference, /health, /metrics) on this port (0 = any free one); unset = none"),
  httpHost: z.string().default('127.0.0.1').describe("address the first device's local HTTP API binds to"),
  controllerUrl: z.url().optional().describe('register the devices (and labels) at this controller'),
  controllerToken: z.string().optional().describe('operator token for registration'),
  auth: z
    .enum(['none', 'provision'])
    .default('none')
    .describe(
      'provision: register each device with a broker credential (secrets appended to the credentials file); none: bulk-register without',
    ),
  sessions: z
    .enum(['mqtt.js', 'lite'])
    .default('mqtt.js')
    .describe(
      'MQTT sessions: an MQTT.js client per device (as liquid-agent run), or light shared-timer sessions with paced connects (tens of thousands of devices)',
    ),
  connectsPerS: z.coerce.number().int().min(1).max(100_000).default(500).describe('lite sessions: new connections per second'),
  linkProxy: z.boolean().default(true).describe('connect through a local link proxy (flapping and abrupt crashes need it)'),
  bufferOnDisk: z.boolean().default(true).describe('offline telemetry buffer on disk'),
  stateStore: z
    .enum(['disk', 'memory'])
    .default('disk')
    .describe('agent state on disk (atomic + fsync, realistic) or in memory (fast start for big fleets)'),
  summaryMs: z.coerce.number().int().min(100).default(5000).describe('summary interval (a live line on a TTY)'),
  durationS: z.coerce.number().min(0).default(0).describe('stop after this many seconds (0 = run until interrupted)'),
}).superRefine((c, ctx) => {
  if (c.auth === 'provision' && c.controllerUrl === undefined)
    ctx.addIssue({ code: 'custom', path: ['auth'], message: "'auth=provision' needs 'controllerUrl'" })
})
export type SimulateConfig = Readonly<z.output<typeof SimulateConfigSchema>>

/** Flags of `liquid-agent` that are not the setting's name in kebab-case. */
const FLAGS: Readonly<Record<string, SettingOptions>> = {
  brokerUrl: { flag: '--broker <url>' },
  mqttUsername: { flag: '--username <name>' },
  mqttPassword: { flag: '--password <secret>' },
  publisherKeys: { flag: '--publisher-key <file...>' },
  linkProxy: { flag: '--no-link-proxy' },
  faults: { flag: '--faults <json>' },
}

/** The flag overrides that apply to a schema's settings. */
export function agentFlags(schema: z.ZodObject): Record<string, SettingOptions> {
  return Object.fromEntries(Object.entries(FLAGS).filter(([key]) => key in schema.shape))
}

/** Flags, env and file of `liquid-agent run`. */
export const runConfig = defineConfig({ name: 'agent', schema: RunConfigSchema, settings: agentFlags(RunConfigSchema) })
/** Flags, env and file of `liquid-agent simulate`. */
export const simulateConfig = defineConfig({ name: 'fleet', schema: SimulateConfigSchema, settings: agentFlags(SimulateConfigSchema) })
