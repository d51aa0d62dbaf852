import type { DeviceTopicKind } from './topics.js'
import { DEFAULT_ROOT, isValidDeviceId } from './topics.js'

/** Who a connected client is, as the broker learns it at CONNECT. */
export type Identity =
  | { role: 'device'; id: string }
  /** A gateway speaks for itself and for its registered children (STM32 MCUs behind it). */
  | { role: 'gateway'; id: string; children: readonly string[] }
  | { role: 'controller'; id: string }
  /** Read-only telemetry consumers (dashboards, pipelines). */
  | { role: 'consumer'; id: string }
  /** A client without credentials, only in a broker's development mode: nothing under the fleet root. */
  | { role: 'anonymous'; id: string }
export type Role = Identity['role']

/** What a device may publish about itself, and what it may subscribe to. */
const DEVICE_PUBLISHES: readonly DeviceTopicKind[] = ['reported', 'status', 'telemetry', 'events', 'reply']
const DEVICE_SUBSCRIBES: readonly DeviceTopicKind[] = ['desired', 'cmd']
const CONSUMER_READS: readonly DeviceTopicKind[] = ['telemetry', 'status', 'events']

/**
 * True when `filter` is a well-formed MQTT topic filter: `#` only as the whole last level,
 * `+` only as a whole level, no NUL [MQTT-4.7.1-2], [MQTT-4.7.1-3], [MQTT-4.7.3-1].
 */
export function isValidFilter(filter: string): boolean {
  if (filter.length === 0 || filter.length > 1024 || filter.includes('\u0000')) return false
  const levels = filter.split('/')
  return levels.every((l, i) => {
    if (l === '#') return i === levels.length - 1
    return !l.includes('#') && (l === '+' || !l.includes('+'))
  })
}

/** True when `topic` is a well-formed topic name to publish to: non-empty, no wildcards, no NUL. */
export function isValidTopicName(topic: string): boolean {
  return topic.length > 0 && topic.length <= 1024 && !topic.includes('+') && !topic.includes('#') && !topic.includes('\u0000')
}

/**
 * True when every topic `filter` can match is also matched by `pattern` (both MQTT filters).
 * `a/#` also matches `a` [MQTT-4.7.1-2], so a trailing `#` in the filter needs one in the pattern.
 */
export function filterWithin(filter: string, pattern: string): boolean {
  const f = filter.split('/')
  const p = pattern.split('/')
  for (let i = 0; i < f.length; i++) {
    const pl = p[i]
    const fl = f[i]
    if (pl === '#') return true
    if (pl === undefined || fl === '#') return false
    if (pl === '+') continue
    if (fl === '+' || fl !== pl) return false
  }
  return f.length === p.length || (p.length === f.length + 1 && p[f.length] === '#')
}

function ownIds(identity: Identity): readonly string[] {
  return identity.role === 'gateway' ? [identity.id, ...identity.children] : [identity.id]
}

function devicePatterns(root: string, ids: readonly string[], kinds: readonly DeviceTopicKind[]): string[] {
  return ids.filter(isValidDeviceId).flatMap((id) => kinds.map((k) => `${root}/devices/${id}/${k}`))
}

/** The filters whose matches make up everything `identity` may subscribe to. */
export function subscribePatterns(identity: Identity, root: string = DEFAULT_ROOT): string[] {
  switch (identity.role) {
    case 'controller':
      return [`${root}/#`]
    case 'consumer':
      return [...CONSUMER_READS.map((k) => `${root}/devices/+/${k}`), `${root}/fleet/events`]
    case 'anonymous':
      return []
    default:
      return devicePatterns(root, ownIds(identity), DEVICE_SUBSCRIBES)
  }
}

/** The topics (or filters) whose matches make up everything `identity` may publish to. */
export function publishPatterns(identity: Identity, root: string = DEFAULT_ROOT): string[] {
  switch (identity.role) {
    case 'controller':
      return [`${root}/#`]
    case 'consumer':
    case 'anonymous':
      return []
    default:
      return devicePatterns(root, ownIds(identity), DEVICE_PUBLISHES)
  }
}

/** May `identity` publish to `topic`? Nobody publishes to `$`-topics or outside the root. */
export function canPublish(identity: Identity, topic: string, root: string = DEFAULT_ROOT): boolean {
  if (!isValidTopicName(topic) || topic.startsWith('$')) return false
  return publishPatterns(identity, root).some((p) => filterWithin(topic, p))
}

/**
 * May `identity` subscribe to `filter`? A wildcard filter is judged by everything it could
 * match: a device asking for `lln/v1/devices/+/cmd` or `#` is refused.
 */
export function canSubscribe(identity: Identity, filter: string, root: string = DEFAULT_ROOT): boolean {
  if (!isValidFilter(filter) || filter.startsWith('$')) return false
  return subscribePatterns(identity, root).some((p) => filterWithin(filter, p))
}
