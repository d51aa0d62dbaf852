import { DEVICE_ID_PATTERN } from './primitives.js'

/** The default topic root. A deployment may choose another (one per tenant, say). */
export const DEFAULT_ROOT = 'lln/v1'

/** Per-device topic kinds, as the last topic level. */
export const DEVICE_TOPIC_KINDS = ['desired', 'cmd', 'reply', 'reported', 'status', 'telemetry', 'events'] as const
export type DeviceTopicKind = (typeof DEVICE_TOPIC_KINDS)[number]
export type TopicKind = DeviceTopicKind | 'fleet-events'

/** A parsed protocol topic. */
export type ParsedTopic = { kind: DeviceTopicKind; deviceId: string } | { kind: 'fleet-events' }

const ROOT_LEVEL = /^[A-Za-z0-9._-]{1,64}$/
const KIND_SET: ReadonlySet<string> = new Set(DEVICE_TOPIC_KINDS)

/** True when `root` is a usable topic root: 1–8 levels of `[A-Za-z0-9._-]`, no wildcards, no `$`. */
export function isValidRoot(root: string): boolean {
  const levels = root.split('/')
  return levels.length <= 8 && levels.every((l) => ROOT_LEVEL.test(l))
}

/** True when `id` is a valid device id. */
export function isValidDeviceId(id: string): boolean {
  return DEVICE_ID_PATTERN.test(id)
}

/** Topic builders and the parser, bound to one root. */
export interface Topics {
  readonly root: string
  device(id: string, kind: DeviceTopicKind): string
  desired(id: string): string
  cmd(id: string): string
  reply(id: string): string
  reported(id: string): string
  status(id: string): string
  telemetry(id: string): string
  events(id: string): string
  fleetEvents(): string
  /** Subscription filter for one kind across every device, e.g. `lln/v1/devices/+/telemetry`. */
  allDevices(kind: DeviceTopicKind): string
  /** The parsed topic, or `null` for anything that is not exactly a protocol topic under this root. */
  parse(topic: string): ParsedTopic | null
}

/**
 * Topic builders and a parser for one root (default `lln/v1`).
 * @throws {RangeError} when `root` is not a valid root, or a builder gets an invalid device id.
 */
export function createTopics(root: string = DEFAULT_ROOT): Topics {
  if (!isValidRoot(root)) throw new RangeError(`invalid topic root '${root}': use 1-8 levels of [A-Za-z0-9._-]`)
  const devicesPrefix = `${root}/devices/`
  const fleetEvents = `${root}/fleet/events`
  const device = (id: string, kind: DeviceTopicKind): string => {
    if (!isValidDeviceId(id)) throw new RangeError(`invalid device id '${id}': use 1-64 of [A-Za-z0-9._-]`)
    return `${devicesPrefix}${id}/${kind}`
  }
  return Object.freeze({
    root,
    device,
    desired: (id: string) => device(id, 'desired'),
    cmd: (id: string) => device(id, 'cmd'),
    reply: (id: string) => device(id, 'reply'),
    reported: (id: string) => device(id, 'reported'),
    status: (id: string) => device(id, 'status'),
    telemetry: (id: string) => device(id, 'telemetry'),
    events: (id: string) => device(id, 'events'),
    fleetEvents: () => fleetEvents,
    allDevices: (kind: DeviceTopicKind) => `${devicesPrefix}+/${kind}`,
    parse(topic: string): ParsedTopic | null {
      if (topic === fleetEvents) return { kind: 'fleet-events' }
      if (!topic.startsWith(devicesPrefix)) return null
      const rest = topic.slice(devicesPrefix.length)
      const slash = rest.indexOf('/')
      if (slash < 0) return null
      const deviceId = rest.slice(0, slash)
      const kind = rest.slice(slash + 1)
      if (!KIND_SET.has(kind) || !isValidDeviceId(deviceId)) return null
      return { kind: kind as DeviceTopicKind, deviceId }
    },
  })
}

/** NATS subject kinds used by the broker's JetStream bridge. */
export type BridgeKind = 'telemetry' | 'status' | 'reported' | 'events'

/**
 * The JetStream subject for a device message: `lln.<kind>.<deviceId>`. Device ids may contain `.`,
 * which separates NATS tokens, so it is written `%2E` (ids never contain `%`, so this is reversible).
 */
export function natsSubject(kind: BridgeKind, deviceId: string, prefix = 'lln'): string {
  return `${prefix}.${kind}.${deviceId.replaceAll('.', '%2E')}`
}

/** The device id encoded in a subject built by {@link natsSubject}, or `null`. */
export function deviceIdFromSubject(subject: string): string | null {
  const last = subject.slice(subject.lastIndexOf('.') + 1).replaceAll('%2E', '.')
  return isValidDeviceId(last) ? last : null
}
