import * as z from 'zod'
import { DEFAULT_ROOT, FleetError, MAX_PAYLOAD_BYTES, isValidRoot } from '@liquid-edge/protocol'

const port = z.number().int().min(0).max(65_535)
const bool = z.boolean()

/** The broker's configuration: defaults are what `liquid-broker` with no arguments runs. */
export const BrokerConfigSchema = z
  .object({
    /** Topic root. */
    root: z.string().refine(isValidRoot, 'root must be 1-8 levels of [A-Za-z0-9._-]').default(DEFAULT_ROOT),
    /** Stable node id (needed with Redis so a restarted node is the same broker); random when unset. */
    brokerId: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .optional(),
    /** Address the listeners bind to. */
    host: z.string().min(1).default('0.0.0.0'),
    tcp: z.object({ enabled: bool.default(true), port: port.default(1883) }).prefault({}),
    tls: z
      .object({
        enabled: bool.default(false),
        port: port.default(8883),
        certFile: z.string().optional(),
        keyFile: z.string().optional(),
        /** CA for client certificates; with it, a client certificate whose CN is the client id authenticates. */
        caFile: z.string().optional(),
      })
      .prefault({})
      .superRefine((tls, ctx) => {
        if (tls.enabled && (tls.certFile === undefined || tls.keyFile === undefined))
          ctx.addIssue({ code: 'custom', message: "'tls.certFile' and 'tls.keyFile' are required when TLS is enabled" })
      }),
    ws: z
      .object({ enabled: bool.default(false), port: port.default(8083), path: z.string().startsWith('/').default('/mqtt') })
      .prefault({}),
    http: z.object({ enabled: bool.default(true), port: port.default(9883) }).prefault({}),
    credentials: z
      .object({
        store: z.enum(['file', 'redis', 'memory']).default('file'),
        file: z.string().min(1).default('./liquid-credentials.json'),
        /** Key prefix of the shared Redis credential records (`<prefix>:cred:<id>`). */
        redisPrefix: z.string().min(1).default('lln'),
      })
      .prefault({}),
    auth: z
      .object({
        maxFailuresPerId: z.number().int().positive().default(5),
        maxFailuresPerAddress: z.number().int().positive().default(20),
        failureWindowMs: z.number().int().positive().default(60_000),
        takeoverLimit: z.number().int().positive().default(3),
        takeoverWindowMs: z.number().int().positive().default(30_000),
      })
      .prefault({}),
    limits: z
      .object({
        /** Largest MQTT packet; a bigger one closes the connection. */
        maxPacketBytes: z
          .number()
          .int()
          .min(1024)
          .default(MAX_PAYLOAD_BYTES + 1024),
        /** Largest payload on a protocol topic. */
        maxPayloadBytes: z.number().int().min(256).default(MAX_PAYLOAD_BYTES),
        /** Sustained publishes per second per device (a gateway gets this per id it speaks for). Controllers are exempt. */
        publishRatePerSec: z.number().positive().default(20),
        /** Burst size of the token bucket. */
        publishBurst: z.number().int().positive().default(100),
      })
      .prefault({}),
    redis: z
      .object({
        url: z.string().default('redis://127.0.0.1:6379'),
        /** Offline QoS 1 message TTL in Redis. */
        packetTtlSec: z
          .number()
          .int()
          .positive()
          .default(7 * 24 * 3600),
        maxSessionDelivery: z.number().int().positive().default(1000),
      })
      .prefault({}),
    /** `redis`: retained messages and sessions in Redis, and nodes share messages through it. */
    persistence: z.enum(['memory', 'redis']).default('memory'),
    nats: z
      .object({
        /** NATS server(s), comma-separated; the bridge is off when unset. */
        url: z.string().optional(),
        stream: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,64}$/)
          .default('LLN'),
        subjectPrefix: z
          .string()
          .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/)
          .default('lln'),
        storage: z.enum(['file', 'memory']).default('file'),
        maxAgeMs: z
          .number()
          .int()
          .nonnegative()
          .default(7 * 24 * 3600_000),
        maxBytes: z.number().int().min(-1).default(-1),
        maxMsgs: z.number().int().min(-1).default(-1),
        duplicateWindowMs: z.number().int().positive().default(120_000),
        /** Messages buffered while NATS is slow or down; beyond it the oldest are dropped (and counted). */
        maxPending: z.number().int().positive().default(10_000),
        /** `batch` (fast: core publish with Nats-Msg-Id, flush per batch) or `each` (a JetStream ack per message). */
        ack: z.enum(['batch', 'each']).default('batch'),
      })
      .prefault({}),
    /** Seconds a draining broker waits for in-flight work on shutdown. */
    drainTimeoutMs: z.number().int().nonnegative().default(10_000),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict()

/** Configuration as written (everything optional). */
export type BrokerConfigInput = z.input<typeof BrokerConfigSchema>
/** Configuration with every default applied. */
export type BrokerConfig = z.output<typeof BrokerConfigSchema>

/** Environment variables and the config path each sets (`LLN_<KEY>`). */
export const ENV_KEYS: Readonly<Record<string, { path: string[]; type: 'string' | 'number' | 'boolean' }>> = {
  LLN_ROOT: { path: ['root'], type: 'string' },
  LLN_BROKER_ID: { path: ['brokerId'], type: 'string' },
  LLN_BROKER_HOST: { path: ['host'], type: 'string' },
  LLN_MQTT_PORT: { path: ['tcp', 'port'], type: 'number' },
  LLN_MQTT_ENABLED: { path: ['tcp', 'enabled'], type: 'boolean' },
  LLN_TLS_ENABLED: { path: ['tls', 'enabled'], type: 'boolean' },
  LLN_TLS_PORT: { path: ['tls', 'port'], type: 'number' },
  LLN_TLS_CERT_FILE: { path: ['tls', 'certFile'], type: 'string' },
  LLN_TLS_KEY_FILE: { path: ['tls', 'keyFile'], type: 'string' },
  LLN_TLS_CA_FILE: { path: ['tls', 'caFile'], type: 'string' },
  LLN_WS_ENABLED: { path: ['ws', 'enabled'], type: 'boolean' },
  LLN_WS_PORT: { path: ['ws', 'port'], type: 'number' },
  LLN_HTTP_ENABLED: { path: ['http', 'enabled'], type: 'boolean' },
  LLN_HTTP_PORT: { path: ['http', 'port'], type: 'number' },
  LLN_CREDENTIALS_STORE: { path: ['credentials', 'store'], type: 'string' },
  LLN_CREDENTIALS_FILE: { path: ['credentials', 'file'], type: 'string' },
  LLN_CREDENTIALS_PREFIX: { path: ['credentials', 'redisPrefix'], type: 'string' },
  LLN_MAX_PACKET_BYTES: { path: ['limits', 'maxPacketBytes'], type: 'number' },
  LLN_PUBLISH_RATE: { path: ['limits', 'publishRatePerSec'], type: 'number' },
  LLN_PUBLISH_BURST: { path: ['limits', 'publishBurst'], type: 'number' },
  LLN_PERSISTENCE: { path: ['persistence'], type: 'string' },
  LLN_REDIS_URL: { path: ['redis', 'url'], type: 'string' },
  LLN_NATS_URL: { path: ['nats', 'url'], type: 'string' },
  LLN_NATS_STREAM: { path: ['nats', 'stream'], type: 'string' },
  LLN_NATS_SUBJECT_PREFIX: { path: ['nats', 'subjectPrefix'], type: 'string' },
  LLN_NATS_MAX_AGE_MS: { path: ['nats', 'maxAgeMs'], type: 'number' },
  LLN_LOG_LEVEL: { path: ['logLevel'], type: 'string' },
}

type Json = Record<string, unknown>

function setPath(target: Json, path: readonly string[], value: unknown): void {
  let node = target
  for (const key of path.slice(0, -1)) {
    const next = node[key]
    node = (typeof next === 'object' && next !== null ? next : (node[key] = {})) as Json
  }
  node[path.at(-1) ?? ''] = value
}

function coerce(raw: string, type: 'string' | 'number' | 'boolean'): unknown {
  if (type === 'number') return raw.trim() === '' ? Number.NaN : Number(raw)
  if (type === 'boolean')
    return ['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())
      ? true
      : ['0', 'false', 'no', 'off'].includes(raw.toLowerCase())
        ? false
        : raw
  return raw
}

/** Deep-merge plain objects; later layers win. */
export function mergeConfig(...layers: readonly Json[]): Json {
  const out: Json = {}
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      const prev = out[k]
      const both = typeof v === 'object' && v !== null && !Array.isArray(v) && typeof prev === 'object' && prev !== null
      out[k] = both ? mergeConfig(prev as Json, v as Json) : v
    }
  }
  return out
}

/** The config layer set by `LLN_*` variables in `env`. */
export function envLayer(env: Readonly<Record<string, string | undefined>>): Json {
  const layer: Json = {}
  for (const [name, { path, type }] of Object.entries(ENV_KEYS)) {
    const raw = env[name]
    if (raw !== undefined) setPath(layer, path, coerce(raw, type))
  }
  return layer
}

/**
 * Validate a configuration: defaults < `file` layer < environment < `overrides` (flags).
 * @throws {FleetError} `CONFIG_INVALID` listing every bad value.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  layers: { file?: Json; overrides?: Json } = {},
): Readonly<BrokerConfig> {
  return parseConfig(mergeConfig(layers.file ?? {}, envLayer(env), layers.overrides ?? {}))
}

/**
 * Validate a configuration object and apply the defaults.
 * @throws {FleetError} `CONFIG_INVALID` listing every bad value.
 */
export function parseConfig(input: unknown): Readonly<BrokerConfig> {
  const parsed = BrokerConfigSchema.safeParse(input)
  if (!parsed.success) throw new FleetError('CONFIG_INVALID', `invalid broker configuration:\n${z.prettifyError(parsed.error)}`)
  return Object.freeze(parsed.data)
}
