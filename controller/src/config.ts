import * as z from 'zod'
import { FleetError, isValidRoot } from '@liquid-edge/protocol'

const ms = z.coerce.number().int().min(1).max(86_400_000)

/** The controller's configuration; every key is read from `LLN_<KEY>` (e.g. `LLN_REDIS_URL`). */
export const ConfigSchema = z.object({
  /** Redis for the registry, model records, rollouts and BullMQ. */
  redisUrl: z.string().default('redis://127.0.0.1:6379'),
  /** Prefix of every Redis key (credentials use `${credentialPrefix}:cred:<id>`). */
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/)
    .default('lln'),
  credentialPrefix: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/)
    .optional(),
  /** BullMQ key prefix. */
  bullPrefix: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/)
    .default('lln-bull'),
  mqttUrl: z.string().default('mqtt://127.0.0.1:1883'),
  mqttUsername: z.string().optional(),
  mqttPassword: z.string().optional(),
  root: z.string().refine(isValidRoot, 'invalid topic root').default('lln/v1'),
  httpHost: z.string().default('127.0.0.1'),
  httpPort: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Base URL agents use to download artifacts; defaults to http://<host>:<port>. */
  publicUrl: z.url().optional(),
  storeDir: z.string().default('./data/artifacts'),
  /** Publisher ed25519 public keys: comma-separated PEM file paths or base64 SPKI DER. */
  publisherKeys: z.string().default(''),
  /** An admin token to install at start (stored hashed). */
  adminToken: z.string().min(16).optional(),
  tickMs: ms.default(1000),
  leaseMs: ms.default(10_000),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Telemetry windows (#7): bucket length, retention, and how often ingest flushes to Redis. */
  telemetryBucketMs: ms.default(10_000),
  telemetryRetentionMs: ms.default(3_600_000),
  telemetryFlushMs: ms.default(100),
  /** How often each active rollout's rules are evaluated. */
  rulesEvalMs: ms.default(5000),
  /** Scales every duration of the default rules (1 = the runbook; tests and demos shorten them). */
  rulesTimeScale: z.coerce.number().positive().max(100).default(1),
  /** Evaluate and report rules without acting, for every rollout. */
  rulesDryRun: z.stringbool().or(z.boolean()).default(false),
  /** POST alerts and decisions as JSON to this URL. */
  alertWebhookUrl: z.url().optional(),
  /** NATS: ingest telemetry from the broker's JetStream stream instead of MQTT, and publish events there. */
  natsUrl: z.string().optional(),
  natsStream: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('LLN'),
  natsSubjectPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/)
    .default('lln'),
})
export type Config = Readonly<z.output<typeof ConfigSchema>>

const KEYS = Object.keys(ConfigSchema.shape) as (keyof typeof ConfigSchema.shape)[]

/** `redisUrl` → `LLN_REDIS_URL`. */
export function envName(key: string): string {
  return `LLN_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`
}

/** Read the configuration from `env` (injected; tests never touch process.env). @throws {FleetError} `CONFIG_INVALID` */
export function loadConfig(env: Record<string, string | undefined> = {}, overrides: Partial<Record<string, unknown>> = {}): Config {
  const raw: Record<string, unknown> = {}
  for (const key of KEYS) {
    const v = env[envName(key)]
    if (v !== undefined && v !== '') raw[key] = v
  }
  const parsed = ConfigSchema.safeParse({ ...raw, ...overrides })
  if (!parsed.success) throw new FleetError('CONFIG_INVALID', `invalid controller configuration:\n${z.prettifyError(parsed.error)}`)
  return Object.freeze(parsed.data)
}
