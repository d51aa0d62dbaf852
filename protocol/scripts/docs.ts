/**
 * Generates the checked-in protocol documents from the zod schemas: JSON Schema per message
 * (`docs/protocol/`), the AsyncAPI 3.0 document (`docs/asyncapi.yaml`) and the error code table
 * (`docs/errors.md`). `npm run gen:docs` writes them; a test fails when they are stale.
 */
import * as z from 'zod'
import { stringify } from 'yaml'
import {
  BaselineSchema,
  DEFAULT_ROOT,
  DELIVERY,
  ERROR_CODES,
  REASON_TEMPLATES,
  MESSAGE_SCHEMAS,
  MAX_PAYLOAD_BYTES,
  PackageManifestSchema,
  SCHEMA_VERSION,
  TYPE_BY_TOPIC,
  type MessageType,
  type TopicKind,
} from '@liquid-edge/protocol'

type Json = Record<string, unknown>

const TITLES: Record<MessageType, string> = {
  desired: 'Desired state',
  command: 'Command',
  reply: 'Command reply',
  reported: 'Reported state',
  status: 'Device status',
  telemetry: 'Telemetry window',
  event: 'Device event',
  'fleet-event': 'Fleet event',
}

interface ChannelInfo {
  kind: TopicKind
  id: string
  address: string
  /** Who sends on this channel, from the point of view of a device. */
  action: 'send' | 'receive'
  summary: string
}

const CHANNELS: ChannelInfo[] = [
  {
    kind: 'desired',
    id: 'desired',
    address: '{root}/devices/{deviceId}/desired',
    action: 'receive',
    summary: 'The model this device should run (controller → device).',
  },
  {
    kind: 'cmd',
    id: 'commands',
    address: '{root}/devices/{deviceId}/cmd',
    action: 'receive',
    summary: 'Imperative commands with an id and expiry (controller → device).',
  },
  {
    kind: 'reply',
    id: 'replies',
    address: '{root}/devices/{deviceId}/reply',
    action: 'send',
    summary: 'The result of a command, correlated by its id (device → controller).',
  },
  {
    kind: 'reported',
    id: 'reported',
    address: '{root}/devices/{deviceId}/reported',
    action: 'send',
    summary: 'What the device runs and where its last update stands (device → controller).',
  },
  {
    kind: 'status',
    id: 'status',
    address: '{root}/devices/{deviceId}/status',
    action: 'send',
    summary: 'Online/offline with a growing session number; also the Last Will (device → all).',
  },
  {
    kind: 'telemetry',
    id: 'telemetry',
    address: '{root}/devices/{deviceId}/telemetry',
    action: 'send',
    summary: 'One aggregated telemetry window (device → controller, consumers).',
  },
  {
    kind: 'events',
    id: 'deviceEvents',
    address: '{root}/devices/{deviceId}/events',
    action: 'send',
    summary: 'Crashes, resets, load failures, local reverts (device → controller).',
  },
  {
    kind: 'fleet-events',
    id: 'fleetEvents',
    address: '{root}/fleet/events',
    action: 'receive',
    summary: 'Rollout lifecycle and automatic decisions with evidence (controller → consumers).',
  },
]

/**
 * Schemas with `.meta({ id })` convert to `{ $ref: '#/$defs/Id', $defs: { Id: … } }`; inline the root
 * so that each document describes its message directly (AsyncAPI resolves refs against the document).
 */
function unwrapRoot(js: Json): Json {
  const ref = js.$ref
  const defsKey = '$defs' in js ? '$defs' : 'definitions'
  const defs = js[defsKey] as Record<string, Json> | undefined
  if (typeof ref !== 'string' || defs === undefined) return js
  const name = ref.slice(ref.lastIndexOf('/') + 1)
  const { [name]: root, ...others } = defs
  if (root === undefined) return js
  const { $ref: _ref, [defsKey]: _defs, ...rest } = js
  return { ...rest, ...root, ...(Object.keys(others).length > 0 ? { [defsKey]: others } : {}) }
}

/** JSON Schema (draft 2020-12) of what a reader accepts for each message type. */
export function messageJsonSchemas(): Record<MessageType, Json> {
  return Object.fromEntries(
    Object.entries(MESSAGE_SCHEMAS).map(([type, schema]) => {
      const js = unwrapRoot(z.toJSONSchema(schema as z.ZodType, { io: 'input', reused: 'inline' }))
      return [type, { ...js, $id: `https://liquid-edge.dev/schemas/v${SCHEMA_VERSION}/${type}.json`, title: TITLES[type as MessageType] }]
    }),
  ) as unknown as Record<MessageType, Json>
}

function draft07(schema: z.ZodType): Json {
  const { $schema: _drop, ...rest } = unwrapRoot(z.toJSONSchema(schema, { target: 'draft-07', io: 'input', reused: 'inline' }))
  return rest
}

/** The AsyncAPI 3.0 document, from a device's point of view (firmware authors implement it). */
export function asyncApiDocument(): Json {
  const channels: Json = {}
  const operations: Json = {}
  const messages: Json = {}
  const schemas: Json = {}
  for (const c of CHANNELS) {
    const type = TYPE_BY_TOPIC[c.kind]
    const name = type.replace(/-(\w)/g, (_m, ch: string) => ch.toUpperCase())
    const { qos, retain } = DELIVERY[c.kind]
    schemas[name] = draft07(MESSAGE_SCHEMAS[type] as z.ZodType)
    messages[name] = {
      name,
      title: TITLES[type],
      contentType: 'application/json',
      payload: { $ref: `#/components/schemas/${name}` },
    }
    const parameters: Json = { root: { $ref: '#/components/parameters/root' } }
    if (c.address.includes('{deviceId}')) parameters.deviceId = { $ref: '#/components/parameters/deviceId' }
    channels[c.id] = {
      address: c.address,
      title: c.id,
      summary: c.summary,
      parameters,
      messages: { [name]: { $ref: `#/components/messages/${name}` } },
      bindings: { mqtt: { bindingVersion: '0.2.0' } },
    }
    operations[`${c.action}${c.id[0]?.toUpperCase() ?? ''}${c.id.slice(1)}`] = {
      action: c.action,
      channel: { $ref: `#/channels/${c.id}` },
      summary: `${c.summary} QoS ${qos}${retain ? ', retained' : ''}.`,
      messages: [{ $ref: `#/channels/${c.id}/messages/${name}` }],
      bindings: { mqtt: { bindingVersion: '0.2.0', qos, retain } },
    }
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Liquid Edge fleet protocol',
      version: `${SCHEMA_VERSION}.0.0`,
      description: [
        'The wire contract between the Liquid Edge controller, brokers, device agents and telemetry consumers.',
        'MQTT 3.1.1, JSON payloads in an envelope `{v, type, id, ts, deviceId, body}` (no deviceId on fleet topics); readers ignore unknown fields.',
        'Every time is epoch milliseconds (UTC) and every duration milliseconds; docs/device-contract.md states the session rules, the phase state machine and the package format.',
        `Payloads are at most ${MAX_PAYLOAD_BYTES} bytes. Operations are described from a device's point of view.`,
        'Device ids are 1-64 of [A-Za-z0-9._-]. Generated from @liquid-edge/protocol; do not edit by hand.',
      ].join('\n'),
    },
    defaultContentType: 'application/json',
    servers: {
      broker: {
        host: 'localhost:1883',
        protocol: 'mqtt',
        protocolVersion: '3.1.1',
        description: 'Client id = username = device id; password = the secret issued at provisioning.',
        security: [{ $ref: '#/components/securitySchemes/userPassword' }],
      },
    },
    channels,
    operations,
    components: {
      schemas,
      messages,
      parameters: {
        root: { description: 'Topic root (one per tenant).', default: DEFAULT_ROOT, examples: [DEFAULT_ROOT] },
        deviceId: { description: 'Device id: 1-64 of [A-Za-z0-9._-].', examples: ['edge-0001'] },
      },
      securitySchemes: { userPassword: { type: 'userPassword' } },
    },
  }
}

/** `docs/errors.md`: the error code registry. */
export function errorsMarkdown(): string {
  const rows = Object.entries(ERROR_CODES).map(([code, text]) => `| \`${code}\` | ${text.replaceAll('|', '\\|')} |`)
  return [
    '# Error codes',
    '',
    'Generated from `protocol/src/errors/codes.ts` by `npm run gen:docs`; do not edit by hand.',
    'Codes are stable: callers branch on them (`isFleetError(err, code)`), never on message text.',
    '',
    '| code | meaning |',
    '| --- | --- |',
    ...rows,
    '',
    '## Reason codes',
    '',
    'Generated from `protocol/src/errors/reasons.ts`. A device check (`verify`), a runbook verdict reason and a',
    "health problem is a reason code plus values; its sentence is rendered from the code's template below",
    '(`{key}` = a value). Verdicts are decided on codes and values, never on the sentences.',
    '',
    '| code | sentence |',
    '| --- | --- |',
    ...Object.entries(REASON_TEMPLATES).map(([code, text]) => `| \`${code}\` | ${text.replaceAll('|', '\\|')} |`),
    '',
  ].join('\n')
}

/** Every generated file, by path relative to the repository root. */
export function generatedDocs(): Record<string, string> {
  const files: Record<string, string> = {}
  for (const [type, schema] of Object.entries(messageJsonSchemas())) {
    files[`docs/protocol/${type}.schema.json`] = `${JSON.stringify(schema, null, 2)}\n`
  }
  files['docs/protocol/package-manifest.schema.json'] = `${JSON.stringify(
    { ...(z.toJSONSchema(PackageManifestSchema, { io: 'input' }) as Json), title: '.liquid package manifest' },
    null,
    2,
  )}\n`
  files['docs/protocol/baseline.schema.json'] = `${JSON.stringify(
    { ...(z.toJSONSchema(BaselineSchema, { io: 'input' }) as Json), title: 'liquid-lln baseline file' },
    null,
    2,
  )}\n`
  files['docs/asyncapi.yaml'] =
    `# Generated by \`npm run gen:docs\` from @liquid-edge/protocol. Do not edit.\n${stringify(asyncApiDocument(), { lineWidth: 0 })}`
  files['docs/errors.md'] = errorsMarkdown()
  return files
}
