import { brokerUrlsSchema, defineConfig, type Env } from '@liquid-edge/config'
import * as z from 'zod'
import { MAX_DURATION_MS, isValidRoot } from '@liquid-edge/protocol'
import type { ApiLimits } from './api/guard.js'

const ms = z.coerce.number().int().min(1).max(86_400_000)
const name = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/)

/** The controller's configuration: flags, `LLN_<KEY>` variables (`redisUrl` → `LLN_REDIS_URL`) or a JSON file. */
export const ConfigSchema = z.object({
  redisUrl: z.string().default('redis://127.0.0.1:6379').describe('Redis for the registry, model records, rollouts and BullMQ'),
  prefix: name.default('lln').describe('prefix of every Redis key'),
  credentialPrefix: name.optional().describe('prefix of the broker credentials in Redis (`<prefix>:cred:<id>`); default the key prefix'),
  bullPrefix: name.default('lln-bull').describe('BullMQ key prefix'),
  mqttUrl: brokerUrlsSchema('mqtt://127.0.0.1:1883'),
  mqttUsername: z
    .string()
    .optional()
    .describe('MQTT username; every replica may use the same one (its client id is `<username>:<instance>`)'),
  mqttPassword: z.string().optional().describe('MQTT password'),
  root: z.string().refine(isValidRoot, 'invalid topic root').default('lln/v1').describe('topic root'),
  httpHost: z.string().default('127.0.0.1').describe('address the HTTP API binds to'),
  httpPort: z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(8080)
    .describe('HTTP API, /metrics and artifact downloads; 0 = any free port'),
  publicUrl: z.url().optional().describe('base URL agents download artifacts from; default http://<host>:<port>'),
  storeDir: z.string().default('./data/artifacts').describe('content-addressed artifact store'),
  publisherKeys: z.string().default('').describe('trusted publisher ed25519 keys: PEM file paths or base64 SPKI DER, comma-separated'),
  consoleDir: z
    .string()
    .optional()
    .describe("the built web console served at /ui/; default the installed @liquid-edge/console package's dist/"),
  adminToken: z.string().min(16).optional().describe('an admin API token to install at start (stored hashed)'),
  apiBodyLimitBytes: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024)
    .describe('largest JSON request body; refused with 413 beyond it'),
  apiUploadLimitBytes: z.coerce
    .number()
    .int()
    .min(1024)
    .default(512 * 1024 * 1024)
    .describe('largest model upload (POST /v1/models), streamed to disk under the store directory'),
  apiBodyTimeoutMs: ms.default(10_000).describe('time for a JSON body to arrive after its headers (408 beyond it)'),
  apiHeadersTimeoutMs: ms.default(10_000).describe('time for the request headers to arrive'),
  apiUploadTimeoutMs: ms.default(900_000).describe('time for a model upload to arrive'),
  apiAddressRate: z.coerce.number().min(0).default(200).describe('requests per second per client address, before authentication; 0 = off'),
  apiAddressBurst: z.coerce.number().int().min(1).default(1000).describe('burst of the per-address rate limit'),
  apiTokenRate: z.coerce.number().min(0).default(100).describe('requests per second per bearer token; 0 = off'),
  apiTokenBurst: z.coerce.number().int().min(1).default(500).describe('burst of the per-token rate limit'),
  tickMs: ms.default(1000).describe('how often each active rollout advances'),
  rolloutTrialMs: z.coerce
    .number()
    .int()
    .min(0)
    .max(MAX_DURATION_MS)
    .default(60_000)
    .describe(
      'trial of a rollout that sets none (deploy --trial): how long each device runs the new model before confirming it; 0 = no trial',
    ),
  leaseMs: ms.default(10_000).describe('how long a controller owns a rollout without renewing its lease'),
  dutyLeaseMs: ms
    .default(5000)
    .describe('lease of a duty one replica does at a time (folding MQTT telemetry): a dead holder is replaced within 4/3 of it'),
  reconcileMs: ms
    .default(5000)
    .describe('period of the desired-state reconciliation: devices that came online are checked, and one batch of the fleet swept'),
  reconcileBatch: z.coerce
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(500)
    .describe('devices per reconciliation step (a sweep of the whole fleet takes fleet ÷ batch periods)'),
  reconnectGraceMs: z.coerce
    .number()
    .int()
    .min(0)
    .max(86_400_000)
    .default(90_000)
    .describe(
      "after the controller starts hearing the fleet again (its start, a broker reconnect, an ingest takeover), how long devices have to reconnect before silence or a Last Will counts against them: the agents' longest reconnect back-off (60 s, +50 % jitter)",
    ),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level'),
  telemetryBucketMs: ms.default(10_000).describe('length of a telemetry window bucket'),
  telemetryRetentionMs: ms.default(3_600_000).describe('how long telemetry buckets are kept'),
  telemetryFlushMs: ms.default(100).describe('how often telemetry ingest flushes to Redis'),
  rulesEvalMs: ms.default(5000).describe("how often each active rollout's rules are evaluated"),
  rulesTimeScale: z.coerce
    .number()
    .positive()
    .max(100)
    .default(1)
    .describe('scales every duration of the default rules (1 = the runbook; tests and demos shorten them)'),
  rulesDryRun: z.boolean().default(false).describe('evaluate and report rules without acting, for every rollout'),
  alertWebhookUrl: z.url().optional().describe('POST alerts and decisions as JSON to this URL'),
  natsUrl: z.string().optional().describe("ingest telemetry from the broker's JetStream stream instead of MQTT, and publish events there"),
  natsStream: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('LLN')
    .describe('JetStream stream name'),
  natsSubjectPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/)
    .default('lln')
    .describe('subject prefix of the bridged messages'),
})
export type Config = Readonly<z.output<typeof ConfigSchema>>

/** Flags, env and file of `liquid-controller start`, generated from {@link ConfigSchema}. */
export const controllerConfig = defineConfig({ name: 'controller', schema: ConfigSchema })

/**
 * The configuration from `env` (injected; tests never touch process.env) and `overrides` (set by
 * the program, highest precedence). @throws {FleetError} `CONFIG_INVALID`
 */
export function loadConfig(env: Env = {}, overrides: Partial<Record<string, unknown>> = {}): Config {
  return controllerConfig.load({ env, values: overrides })
}

/** The HTTP API's size, time and rate limits from the configuration. */
export function apiLimits(c: Config): ApiLimits {
  return {
    bodyLimitBytes: c.apiBodyLimitBytes,
    uploadLimitBytes: c.apiUploadLimitBytes,
    bodyTimeoutMs: c.apiBodyTimeoutMs,
    uploadTimeoutMs: c.apiUploadTimeoutMs,
    headersTimeoutMs: c.apiHeadersTimeoutMs,
    perAddress: { perSec: c.apiAddressRate, burst: c.apiAddressBurst },
    perToken: { perSec: c.apiTokenRate, burst: c.apiTokenBurst },
  }
}
