import { defineConfig } from '@liquid-edge/config'
import * as z from 'zod'
import { DEFAULT_ROOT, MAX_PAYLOAD_BYTES, isValidRoot } from '@liquid-edge/protocol'
import { AppTopicRuleSchema, parseAppTopicRules } from './policy/app-topics.js'

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
        /** Wait after a client id's first failed login from an address; doubles with each further failure. */
        backoffBaseMs: z.number().int().positive().default(1000),
        /** Longest wait between two attempts of one client id from one address. */
        backoffMaxMs: z.number().int().positive().default(300_000),
        /** Failed logins from one address, any client ids, within `addressWindowMs` before it is refused; 0: no limit. */
        maxFailuresPerAddress: z.number().int().nonnegative().default(20),
        addressWindowMs: z.number().int().positive().default(60_000),
        /** Addresses the per-address limit does not apply to (a site's NAT); each such login is counted. */
        exemptAddresses: z.array(z.string().min(1)).default([]),
        takeoverLimit: z.number().int().positive().default(3),
        takeoverWindowMs: z.number().int().positive().default(30_000),
        /** Development mode: clients without a username connect as `anonymous` (nothing under the fleet root). */
        allowAnonymous: bool.default(false),
        /** Confirms `allowAnonymous` on an address other than loopback. */
        anonymousOnNetwork: bool.default(false),
      })
      .prefault({}),
    /**
     * Application topics beside the fleet's (`ACCESS PATTERN ROLES`, `;`-separated, or objects). Outside
     * the fleet root only. With `auth.allowAnonymous` and no rule for `anonymous`, anonymous clients get `#`.
     */
    appTopics: z.preprocess(parseAppTopicRules, z.array(AppTopicRuleSchema).max(1000)).default([]),
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
  .superRefine((c, ctx) => {
    if (c.auth.allowAnonymous && !c.auth.anonymousOnNetwork && !isLoopback(c.host)) {
      ctx.addIssue({
        code: 'custom',
        path: ['auth', 'allowAnonymous'],
        message: `anonymous clients are for development on loopback: bind to 127.0.0.1 (--host), or confirm with --allow-anonymous-on-network to open '${c.host}'`,
      })
    }
  })

/** True for loopback bind addresses (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host)
}

/** The application-topic rules in force: with anonymous clients allowed and no rule for them, `#` read-write. */
export function effectiveAppTopics(config: Pick<BrokerConfig, 'auth' | 'appTopics'>): BrokerConfig['appTopics'] {
  const forAnonymous = config.appTopics.some((r) => r.roles.includes('anonymous'))
  if (!config.auth.allowAnonymous || forAnonymous) return config.appTopics
  return [...config.appTopics, { pattern: '#', access: 'readwrite', roles: ['anonymous'] }]
}

/** Configuration as written (everything optional). */
export type BrokerConfigInput = z.input<typeof BrokerConfigSchema>
/** Configuration with every default applied. */
export type BrokerConfig = z.output<typeof BrokerConfigSchema>

/**
 * How each setting is reached: flags and `LLN_*` names kept from before the schema generated them,
 * and help lines. Settings not listed get `--<path>` and `LLN_<PATH>`.
 */
export const brokerConfig = defineConfig({
  name: 'broker',
  schema: BrokerConfigSchema,
  settings: {
    root: { flag: '--root <root>', help: 'topic root' },
    brokerId: { flag: '--broker-id <id>', help: 'stable node id (set it with Redis persistence); random when unset' },
    host: { env: 'LLN_BROKER_HOST', flag: '--host <host>', help: 'bind address of every listener' },
    'tcp.enabled': { env: 'LLN_MQTT_ENABLED', flag: '--no-mqtt', help: 'disable the plain MQTT/TCP listener' },
    'tcp.port': { env: 'LLN_MQTT_PORT', flag: '--mqtt-port <port>', help: 'MQTT/TCP port; 0 = any free port' },
    'tls.enabled': { flag: false, help: 'MQTT/TLS listener on (--tls-cert turns it on)' },
    'tls.port': { flag: '--tls-port <port>', help: 'MQTT/TLS port' },
    'tls.certFile': {
      env: 'LLN_TLS_CERT_FILE',
      flag: '--tls-cert <file>',
      help: 'TLS certificate (PEM); enables TLS',
      implies: { 'tls.enabled': true },
    },
    'tls.keyFile': { env: 'LLN_TLS_KEY_FILE', flag: '--tls-key <file>', help: 'TLS private key (PEM)' },
    'tls.caFile': { env: 'LLN_TLS_CA_FILE', flag: '--tls-ca <file>', help: 'CA for client certificates (CN = client id)' },
    'ws.enabled': { flag: false, help: 'MQTT over WebSocket on (--ws-port turns it on)' },
    'ws.port': { flag: '--ws-port <port>', help: 'MQTT over WebSocket port; enables WebSocket', implies: { 'ws.enabled': true } },
    'ws.path': { help: 'WebSocket path' },
    'http.enabled': { flag: '--no-http', help: 'disable /health and /metrics' },
    'http.port': { flag: '--http-port <port>', help: '/health and /metrics port' },
    'credentials.store': { flag: '--credentials-store <kind>', help: 'credential store (redis: shared with the controller registry)' },
    'credentials.file': { flag: '--credentials-file <path>', help: 'credentials file (file store)' },
    'credentials.redisPrefix': {
      env: 'LLN_CREDENTIALS_PREFIX',
      flag: '--credentials-prefix <prefix>',
      help: 'key prefix of the shared Redis credential records',
    },
    'auth.backoffBaseMs': {
      env: 'LLN_LOGIN_BACKOFF_MS',
      flag: '--login-backoff-ms <ms>',
      help: "wait after a client id's first failed login from an address; doubles with each further failure",
    },
    'auth.backoffMaxMs': {
      env: 'LLN_LOGIN_BACKOFF_MAX_MS',
      flag: '--login-backoff-max-ms <ms>',
      help: 'longest wait between two attempts of one client id from one address',
    },
    'auth.maxFailuresPerAddress': {
      env: 'LLN_LOGIN_FAILURES_PER_ADDRESS',
      flag: '--login-failures-per-address <n>',
      help: 'failed logins from one address within the window before it is refused; 0 = no limit',
    },
    'auth.addressWindowMs': {
      env: 'LLN_LOGIN_ADDRESS_WINDOW_MS',
      flag: '--login-address-window-ms <ms>',
      help: 'window of the per-address login limit',
    },
    'auth.exemptAddresses': {
      env: 'LLN_LOGIN_EXEMPT_ADDRESSES',
      flag: '--login-exempt-addresses <list>',
      help: "addresses the per-address limit does not apply to (a site's NAT), comma-separated",
    },
    'auth.takeoverLimit': {
      env: 'LLN_TAKEOVER_LIMIT',
      flag: '--takeover-limit <n>',
      help: 'session takeovers of one client id within the window before it is refused',
    },
    'auth.takeoverWindowMs': { env: 'LLN_TAKEOVER_WINDOW_MS', flag: '--takeover-window-ms <ms>', help: 'window of the takeover limit' },
    'auth.allowAnonymous': {
      env: 'LLN_ALLOW_ANONYMOUS',
      flag: '--allow-anonymous',
      help: 'DEVELOPMENT: a CONNECT without a username is an anonymous client (loopback --host only)',
    },
    'auth.anonymousOnNetwork': {
      env: 'LLN_ALLOW_ANONYMOUS_ON_NETWORK',
      flag: '--allow-anonymous-on-network',
      help: 'confirm --allow-anonymous on a --host other than loopback',
    },
    appTopics: {
      flag: '--app-topic <rule>',
      repeatable: true,
      raw: true,
      help: "application topics outside the fleet root, 'ACCESS PATTERN ROLES' (repeatable; ';'-separated in env), e.g. 'readwrite app/%c/# device,gateway'",
    },
    'limits.maxPacketBytes': {
      env: 'LLN_MAX_PACKET_BYTES',
      flag: '--max-packet-bytes <n>',
      help: 'largest MQTT packet; a bigger one closes the connection',
    },
    'limits.maxPayloadBytes': {
      env: 'LLN_MAX_PAYLOAD_BYTES',
      flag: '--max-payload-bytes <n>',
      help: 'largest payload on a protocol topic',
    },
    'limits.publishRatePerSec': {
      env: 'LLN_PUBLISH_RATE',
      flag: '--publish-rate <n>',
      help: 'sustained publishes per second per device (controllers are exempt)',
    },
    'limits.publishBurst': { env: 'LLN_PUBLISH_BURST', flag: '--publish-burst <n>', help: 'burst size of the per-device token bucket' },
    'redis.url': {
      env: 'LLN_REDIS_URL',
      flag: '--redis-url <url>',
      help: 'Redis for persistence, clustering and the redis credential store',
    },
    'redis.packetTtlSec': {
      env: 'LLN_REDIS_PACKET_TTL_SEC',
      flag: '--redis-packet-ttl-sec <s>',
      help: 'how long an offline QoS 1 message is kept in Redis',
    },
    'redis.maxSessionDelivery': {
      env: 'LLN_REDIS_MAX_SESSION_DELIVERY',
      flag: '--redis-max-session-delivery <n>',
      help: 'messages delivered at once to a reconnecting persistent session',
    },
    persistence: { flag: '--persistence <kind>', help: 'redis: retained messages and sessions in Redis, shared by every node' },
    'nats.url': { flag: '--nats-url <url>', help: 'NATS server(s), comma-separated; enables the JetStream bridge' },
    'nats.stream': { flag: '--nats-stream <name>', help: 'JetStream stream name' },
    'nats.subjectPrefix': { flag: '--nats-subject-prefix <prefix>', help: 'subject prefix of bridged messages' },
    'nats.storage': { help: 'JetStream storage of the stream' },
    'nats.maxAgeMs': { flag: '--nats-max-age-ms <ms>', help: 'how long the stream keeps a message' },
    'nats.maxBytes': { help: 'size cap of the stream; -1 = none' },
    'nats.maxMsgs': { help: 'message cap of the stream; -1 = none' },
    'nats.duplicateWindowMs': { help: 'JetStream de-duplication window (by envelope id)' },
    'nats.maxPending': { help: 'messages buffered while NATS is slow or down; beyond it the oldest are dropped (and counted)' },
    'nats.ack': { help: 'batch: core publish with Nats-Msg-Id, flushed per batch; each: a JetStream ack per message' },
    drainTimeoutMs: { help: 'how long a draining broker waits for in-flight work on shutdown' },
    logLevel: { flag: '--log-level <level>', help: 'pino log level' },
  },
})

/**
 * Validate a configuration: defaults < `file` layer < environment < `overrides` (flags).
 * @throws {FleetError} `CONFIG_INVALID` listing every bad value.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  layers: { file?: Record<string, unknown>; overrides?: Record<string, unknown> } = {},
): Readonly<BrokerConfig> {
  return brokerConfig.load({ env, file: layers.file ?? {}, ...(layers.overrides === undefined ? {} : { values: layers.overrides }) })
}

/**
 * Validate a configuration object and apply the defaults.
 * @throws {FleetError} `CONFIG_INVALID` listing every bad value.
 */
export function parseConfig(input: unknown): Readonly<BrokerConfig> {
  return brokerConfig.parse(input)
}
