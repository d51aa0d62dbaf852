import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  DEVICE_TOPIC_KINDS,
  canPublish,
  canSubscribe,
  createTopics,
  filterWithin,
  isValidFilter,
  type Identity,
} from '@liquid-edge/protocol'

const t = createTopics()
const device: Identity = { role: 'device', id: 'dev-a' }
const gateway: Identity = { role: 'gateway', id: 'gw-1', children: ['mcu-1', 'mcu-2'] }
const controller: Identity = { role: 'controller', id: 'controller-1' }
const consumer: Identity = { role: 'consumer', id: 'grafana' }

describe('acl: anonymous clients (a broker in development mode)', () => {
  it('may neither publish nor subscribe anything under the root, whatever the id', () => {
    const anonymous: Identity = { role: 'anonymous', id: 'dev-a' }
    for (const kind of DEVICE_TOPIC_KINDS) {
      expect(canPublish(anonymous, t.device('dev-a', kind))).toBe(false)
      expect(canSubscribe(anonymous, t.device('dev-a', kind))).toBe(false)
    }
    expect(canSubscribe(anonymous, t.fleetEvents())).toBe(false)
    expect(canSubscribe(anonymous, 'lln/#')).toBe(false)
  })
})

describe('acl: devices', () => {
  it('publishes only its own reported, status, telemetry, events and reply', () => {
    for (const kind of ['reported', 'status', 'telemetry', 'events', 'reply'] as const) {
      expect(canPublish(device, t.device('dev-a', kind))).toBe(true)
      expect(canPublish(device, t.device('dev-b', kind))).toBe(false)
    }
    expect(canPublish(device, t.desired('dev-a'))).toBe(false)
    expect(canPublish(device, t.cmd('dev-a'))).toBe(false)
    expect(canPublish(device, t.fleetEvents())).toBe(false)
  })

  it('subscribes only to its own desired and cmd', () => {
    expect(canSubscribe(device, t.desired('dev-a'))).toBe(true)
    expect(canSubscribe(device, t.cmd('dev-a'))).toBe(true)
    expect(canSubscribe(device, t.desired('dev-b'))).toBe(false)
    expect(canSubscribe(device, t.telemetry('dev-a'))).toBe(false)
  })

  it.each([
    'lln/v1/devices/+/cmd',
    '#',
    'lln/#',
    'lln/v1/devices/dev-a/+',
    'lln/v1/devices/dev-a/#',
    '+/v1/devices/dev-a/cmd',
    'lln/v1/+/dev-a/cmd',
    '$SYS/#',
  ])('refuses the wildcard filter %s', (filter) => {
    expect(canSubscribe(device, filter)).toBe(false)
  })

  it('refuses malformed filters and topics', () => {
    expect(canSubscribe(device, 'lln/v1/devices/dev-a/cmd/#/x')).toBe(false)
    expect(canSubscribe(device, 'lln/v1/devices/dev-a/c+')).toBe(false)
    expect(canPublish(device, 'lln/v1/devices/dev-a/+')).toBe(false)
    expect(canPublish(device, '')).toBe(false)
  })
})

describe('acl: gateways, controller, consumers', () => {
  it('lets a gateway act for itself and its registered children only', () => {
    for (const id of ['gw-1', 'mcu-1', 'mcu-2']) {
      expect(canPublish(gateway, t.telemetry(id))).toBe(true)
      expect(canSubscribe(gateway, t.desired(id))).toBe(true)
    }
    expect(canPublish(gateway, t.telemetry('mcu-3'))).toBe(false)
    expect(canSubscribe(gateway, t.cmd('dev-a'))).toBe(false)
    expect(canSubscribe(gateway, 'lln/v1/devices/+/desired')).toBe(false)
  })

  it('lets the controller do anything under the root, and nothing outside it', () => {
    expect(canPublish(controller, t.desired('dev-a'))).toBe(true)
    expect(canPublish(controller, t.fleetEvents())).toBe(true)
    expect(canSubscribe(controller, 'lln/v1/#')).toBe(true)
    expect(canSubscribe(controller, 'lln/v1/devices/+/telemetry')).toBe(true)
    expect(canSubscribe(controller, '#')).toBe(false)
    expect(canPublish(controller, 'other/topic')).toBe(false)
    expect(canPublish(controller, '$SYS/x')).toBe(false)
  })

  it('gives consumers read-only telemetry, status and events', () => {
    expect(canSubscribe(consumer, 'lln/v1/devices/+/telemetry')).toBe(true)
    expect(canSubscribe(consumer, 'lln/v1/devices/dev-a/status')).toBe(true)
    expect(canSubscribe(consumer, 'lln/v1/devices/+/events')).toBe(true)
    expect(canSubscribe(consumer, 'lln/v1/fleet/events')).toBe(true)
    expect(canSubscribe(consumer, 'lln/v1/devices/+/cmd')).toBe(false)
    expect(canSubscribe(consumer, 'lln/v1/devices/+/+')).toBe(false)
    expect(canPublish(consumer, t.telemetry('dev-a'))).toBe(false)
  })
})

describe('filter containment', () => {
  it('follows MQTT matching: a/# also matches a [MQTT-4.7.1-2]', () => {
    expect(filterWithin('a/b', 'a/#')).toBe(true)
    expect(filterWithin('a', 'a/#')).toBe(true)
    expect(filterWithin('a/#', 'a/+')).toBe(false)
    expect(filterWithin('a/+', 'a/#')).toBe(true)
    expect(filterWithin('a/+/c', 'a/b/c')).toBe(false)
    expect(isValidFilter('a/#/b')).toBe(false)
  })

  /** A topic level an attacker might try: literal ids, wildcards, or anything. */
  const level = fc.oneof(
    fc.constantFrom('+', '#', 'lln', 'v1', 'devices', 'dev-a', 'dev-b', 'cmd', 'desired', 'telemetry', ''),
    fc.string({ maxLength: 6 }),
  )
  const randomFilter = fc.array(level, { minLength: 1, maxLength: 7 }).map((l) => l.join('/'))
  /** Filters shaped like device topics, each level possibly swapped for a wildcard: the interesting cases. */
  const shapedFilter = fc
    .record({
      levels: fc.tuple(...['lln', 'v1', 'devices', 'dev-a'].map((l) => fc.constantFrom(l, l, '+', '#', 'dev-b'))),
      kind: fc.constantFrom<string>(...DEVICE_TOPIC_KINDS, '+', '#'),
      cut: fc.nat({ max: 4 }),
    })
    .map(({ levels, kind, cut }) => [...levels, kind].slice(0, 5 - cut).join('/'))
  const filter = fc.oneof(randomFilter, shapedFilter)

  it('never lets a device subscribe to a filter that could match another device topic', () => {
    fc.assert(
      fc.property(filter, fc.constantFrom(...DEVICE_TOPIC_KINDS), (f, kind) => {
        // If the filter is allowed, no topic of another device (dev-b) may match it.
        if (canSubscribe(device, f)) {
          expect(filterWithin(t.device('dev-b', kind), f)).toBe(false)
          expect(f.includes('+') || f.includes('#')).toBe(false)
        }
      }),
      { numRuns: 5000 },
    )
  })

  it('never lets a device publish to another device topic or its own inbound topics', () => {
    fc.assert(
      fc.property(filter, (topic) => {
        if (canPublish(device, topic)) {
          expect(topic.startsWith('lln/v1/devices/dev-a/')).toBe(true)
          expect(['desired', 'cmd']).not.toContain(topic.split('/').at(-1))
        }
      }),
      { numRuns: 5000 },
    )
  })
})
