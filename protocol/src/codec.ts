import * as z from 'zod'
import { ERROR_CODES } from './errors/codes.js'
import type { ErrorCode } from './errors/fleet-error.js'
import { FleetError } from './errors/fleet-error.js'
import { COMMAND_KINDS } from './messages/command.js'
import { MAX_EPOCH_MS, MIN_EPOCH_MS } from './primitives.js'
import { SCHEMA_VERSION } from './messages/envelope.js'
import type { MessageOf, MessageInputOf, MessageType, TypeOfTopic } from './messages/index.js'
import { MESSAGE_SCHEMAS, TYPE_BY_TOPIC } from './messages/index.js'
import type { DeviceTopicKind, ParsedTopic, Topics, TopicKind } from './topics.js'
import { createTopics } from './topics.js'

/** Default maximum payload size: 64 KiB. Telemetry windows are well under 1 KiB. */
export const MAX_PAYLOAD_BYTES = 64 * 1024

/** Why a payload was refused. Plain data (no stack) so that refusing a flood stays cheap. */
export interface DecodeError {
  code: ErrorCode
  message: string
  /** Schema issues, for `PROTO_INVALID_PAYLOAD`. */
  issues?: { path: string; message: string }[]
}

export type Decoded = {
  [K in TopicKind]: {
    ok: true
    /** The topic kind, repeated here so that `if (r.ok && r.kind === 'telemetry')` narrows `message`. */
    kind: K
    topic: K extends DeviceTopicKind ? { kind: K; deviceId: string } : { kind: K }
    message: MessageOf<TypeOfTopic<K>>
  }
}[TopicKind]
export type DecodeResult = Decoded | { ok: false; topic: ParsedTopic | null; error: DecodeError }

export interface CodecOptions {
  /** Topic root. @defaultValue 'lln/v1' */
  root?: string
  /** Largest accepted payload in bytes. @defaultValue 65536 */
  maxBytes?: number
}

export interface Codec {
  readonly topics: Topics
  readonly maxBytes: number
  /** Decode and validate a payload received on `topic`. Never throws, for any input. */
  decode(topic: string, payload: Uint8Array | string): DecodeResult
  /** Validate and serialise a message. @throws {FleetError} `PROTO_INVALID_PAYLOAD` or `PROTO_PAYLOAD_TOO_LARGE`. */
  encode<T extends MessageType>(message: MessageInputOf<T> & { type: T }): Uint8Array
}

const TOPIC_CACHE_SIZE = 100_000
const FORBIDDEN_KEY = /"(?:__proto__|constructor|prototype)"\s*:/
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])
const COMMAND_KIND_SET: ReadonlySet<string> = new Set(COMMAND_KINDS)
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })
const encoder = new TextEncoder()

/** Schemas compiled to zod's fast path once (telemetry decode is the controller's hot path). */
const COMPILED = Object.fromEntries(
  Object.entries(MESSAGE_SCHEMAS).map(([type, schema]) => [type, z.compile(schema)]),
) as unknown as typeof MESSAGE_SCHEMAS

function fail(topic: ParsedTopic | null, code: ErrorCode, message: string, issues?: DecodeError['issues']): DecodeResult {
  return { ok: false, topic, error: issues === undefined ? { code, message } : { code, message, issues } }
}

/** JSON.parse that refuses prototype-polluting keys, also when they are written with `\u` escapes. */
function parseJson(text: string): unknown {
  if (!text.includes('\\u')) {
    // Plain substring searches first: far cheaper than the regex on the hot path, and rarely true.
    const suspicious = text.includes('__proto__') || text.includes('constructor') || text.includes('prototype')
    if (suspicious && FORBIDDEN_KEY.test(text)) throw new FleetError('PROTO_FORBIDDEN_KEY', ERROR_CODES.PROTO_FORBIDDEN_KEY)
    return JSON.parse(text)
  }
  return JSON.parse(text, (key, value: unknown) => {
    if (FORBIDDEN_KEYS.has(key)) throw new FleetError('PROTO_FORBIDDEN_KEY', ERROR_CODES.PROTO_FORBIDDEN_KEY)
    return value
  })
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function checkEnvelope(topic: ParsedTopic, value: unknown, expected: MessageType): DecodeResult | null {
  if (!isRecord(value))
    return fail(topic, 'PROTO_INVALID_PAYLOAD', 'payload must be a JSON object', [{ path: '', message: 'expected object' }])
  if (value.v !== SCHEMA_VERSION && typeof value.v === 'number') {
    return fail(topic, 'PROTO_UNSUPPORTED_VERSION', `schema version ${value.v} is not supported (this reader speaks ${SCHEMA_VERSION})`)
  }
  if (typeof value.type === 'string' && value.type !== expected) {
    return fail(topic, 'PROTO_WRONG_TYPE', `topic carries '${expected}' messages, got '${value.type.slice(0, 64)}'`)
  }
  if (expected === 'command' && isRecord(value.body) && typeof value.body.kind === 'string' && !COMMAND_KIND_SET.has(value.body.kind)) {
    return fail(topic, 'PROTO_UNKNOWN_COMMAND', `unknown command kind '${value.body.kind.slice(0, 64)}'`)
  }
  return null
}

function toIssues(error: z.ZodError): NonNullable<DecodeError['issues']> {
  return error.issues.slice(0, 20).map((i) => ({ path: i.path.join('.'), message: i.message }))
}

/** True when an issue is a timestamp outside the plausible epoch-millisecond range (seconds, or an unset clock). */
function isTimeUnitIssue(issue: z.core.$ZodIssue): boolean {
  return (issue.code === 'too_small' && issue.minimum === MIN_EPOCH_MS) || (issue.code === 'too_big' && issue.maximum === MAX_EPOCH_MS)
}

/** The code for a schema failure: `PROTO_TIME_UNIT` when a timestamp is the problem, so the mistake is named. */
function schemaFailureCode(error: z.ZodError): ErrorCode {
  return error.issues.some(isTimeUnitIssue) ? 'PROTO_TIME_UNIT' : 'PROTO_INVALID_PAYLOAD'
}

/** A codec bound to one topic root and payload limit. */
export function createCodec(options: CodecOptions = {}): Codec {
  const topics = createTopics(options.root)
  const maxBytes = options.maxBytes ?? MAX_PAYLOAD_BYTES
  // Devices publish on the same few topics over and over: remember parsed topics (bounded).
  const parsedTopics = new Map<string, ParsedTopic | null>()
  const parseTopic = (name: string): ParsedTopic | null => {
    let parsed = parsedTopics.get(name)
    if (parsed === undefined) {
      parsed = topics.parse(name)
      if (parsedTopics.size >= TOPIC_CACHE_SIZE) parsedTopics.clear()
      parsedTopics.set(name, parsed)
    }
    return parsed
  }

  function decode(topicName: string, payload: Uint8Array | string): DecodeResult {
    try {
      const topic = typeof topicName === 'string' ? parseTopic(topicName) : null
      if (topic === null)
        return fail(null, 'PROTO_INVALID_TOPIC', `'${topicName.slice(0, 256)}' is not a protocol topic under '${topics.root}'`)
      const size = typeof payload === 'string' ? payload.length : payload.byteLength
      if (size > maxBytes) return fail(topic, 'PROTO_PAYLOAD_TOO_LARGE', `payload of ${size} bytes exceeds the ${maxBytes}-byte limit`)
      let text: string
      try {
        text = typeof payload === 'string' ? payload : utf8.decode(payload)
      } catch {
        return fail(topic, 'PROTO_INVALID_UTF8', 'payload is not valid UTF-8')
      }
      let value: unknown
      try {
        value = parseJson(text)
      } catch (err) {
        if (err instanceof FleetError) return fail(topic, err.code, err.message)
        return fail(topic, 'PROTO_INVALID_JSON', `payload is not valid JSON: ${(err as Error).message.slice(0, 200)}`)
      }
      const expected = TYPE_BY_TOPIC[topic.kind]
      const refused = checkEnvelope(topic, value, expected)
      if (refused !== null) return refused
      const parsed = COMPILED[expected].safeParse(value)
      if (!parsed.success) {
        const code = schemaFailureCode(parsed.error)
        const why = code === 'PROTO_TIME_UNIT' ? ': timestamps are epoch milliseconds' : ''
        return fail(topic, code, `invalid ${expected} message${why}`, toIssues(parsed.error))
      }
      const message = parsed.data
      if (topic.kind !== 'fleet-events' && 'deviceId' in message && message.deviceId !== topic.deviceId) {
        return fail(topic, 'PROTO_DEVICE_MISMATCH', `message speaks for '${message.deviceId}' on the topic of '${topic.deviceId}'`)
      }
      return { ok: true, kind: topic.kind, topic, message } as Decoded
    } catch (err) {
      // Unreachable by design; kept so that decode honours "never throws" even against a zod bug.
      return fail(null, 'PROTO_INVALID_PAYLOAD', `undecodable payload: ${String(err).slice(0, 200)}`)
    }
  }

  function encode<T extends MessageType>(message: MessageInputOf<T> & { type: T }): Uint8Array {
    const schema = MESSAGE_SCHEMAS[message.type] as z.ZodType
    const parsed = schema.safeParse(message)
    if (!parsed.success) {
      throw new FleetError('PROTO_INVALID_PAYLOAD', `cannot encode invalid ${message.type} message: ${z.prettifyError(parsed.error)}`, {
        details: { issues: toIssues(parsed.error) },
      })
    }
    const bytes = encoder.encode(JSON.stringify(parsed.data))
    if (bytes.byteLength > maxBytes) {
      throw new FleetError(
        'PROTO_PAYLOAD_TOO_LARGE',
        `encoded ${message.type} is ${bytes.byteLength} bytes, over the ${maxBytes}-byte limit`,
      )
    }
    return bytes
  }

  return Object.freeze({ topics, maxBytes, decode, encode })
}

const defaultCodec = createCodec()

/** Decode a payload under the default root (`lln/v1`) and limit. Never throws. */
export function decode(topic: string, payload: Uint8Array | string): DecodeResult {
  return defaultCodec.decode(topic, payload)
}

/** Encode a message with the default limit. @throws {FleetError} on an invalid message. */
export function encode<T extends MessageType>(message: MessageInputOf<T> & { type: T }): Uint8Array {
  return defaultCodec.encode<T>(message)
}

/** A new message id (a UUID). */
export function newMessageId(): string {
  return globalThis.crypto.randomUUID()
}

/** Build a device message envelope with a fresh id and the current time. */
export function deviceMessage<T extends Exclude<MessageType, 'fleet-event'>>(
  type: T,
  deviceId: string,
  body: MessageInputOf<T>['body'],
  options: { id?: string; ts?: number } = {},
): MessageInputOf<T> & { type: T } {
  return {
    v: SCHEMA_VERSION,
    type,
    id: options.id ?? newMessageId(),
    ts: options.ts ?? Date.now(),
    deviceId,
    body,
  } as MessageInputOf<T> & { type: T }
}

/** Build a fleet event envelope with a fresh id and the current time. */
export function fleetMessage(
  body: MessageInputOf<'fleet-event'>['body'],
  options: { id?: string; ts?: number } = {},
): MessageInputOf<'fleet-event'> {
  return { v: SCHEMA_VERSION, type: 'fleet-event', id: options.id ?? newMessageId(), ts: options.ts ?? Date.now(), body }
}

export type { DeviceTopicKind }
