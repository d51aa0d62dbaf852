import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DEVICE_TOPIC_KINDS, createTopics, deviceIdFromSubject, natsSubject } from '@liquid-edge/protocol'

const deviceId = fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/)
const root = fc.array(fc.stringMatching(/^[A-Za-z0-9._-]{1,16}$/), { minLength: 1, maxLength: 4 }).map((l) => l.join('/'))

describe('topics', () => {
  const topics = createTopics()

  it('builds every device topic under the default root', () => {
    expect(topics.desired('edge-1')).toBe('lln/v1/devices/edge-1/desired')
    expect(topics.cmd('edge-1')).toBe('lln/v1/devices/edge-1/cmd')
    expect(topics.telemetry('a.b_c-9')).toBe('lln/v1/devices/a.b_c-9/telemetry')
    expect(topics.fleetEvents()).toBe('lln/v1/fleet/events')
    expect(topics.allDevices('status')).toBe('lln/v1/devices/+/status')
  })

  it.each(['', 'a/b', '+', '#', 'dev+1', 'dev#', '$SYS', 'x'.repeat(65), 'dev 1', 'dév'])('refuses the device id %j', (id) => {
    expect(() => topics.status(id)).toThrow(RangeError)
    expect(topics.parse(`lln/v1/devices/${id}/status`)).toBeNull()
  })

  it.each(['', '$SYS', 'a/+/b', 'a/#', 'a//b', '/a'])('refuses the root %j', (r) => {
    expect(() => createTopics(r)).toThrow(RangeError)
  })

  it('parses only exact protocol topics', () => {
    expect(topics.parse('lln/v1/fleet/events')).toEqual({ kind: 'fleet-events' })
    expect(topics.parse('lln/v1/devices/edge-1/reply')).toEqual({ kind: 'reply', deviceId: 'edge-1' })
    for (const t of [
      'lln/v1/devices/edge-1',
      'lln/v1/devices//status',
      'lln/v2/devices/e/status',
      'lln/v1/devices/e/status/',
      'lln/v1/fleet/events/x',
    ]) {
      expect(topics.parse(t)).toBeNull()
    }
  })

  it('round-trips build and parse for any root, id and kind', () => {
    fc.assert(
      fc.property(root, deviceId, fc.constantFrom(...DEVICE_TOPIC_KINDS), (r, id, kind) => {
        const t = createTopics(r)
        expect(t.parse(t.device(id, kind))).toEqual({ kind, deviceId: id })
      }),
    )
  })

  it('maps device ids to NATS subjects reversibly, even with dots', () => {
    expect(natsSubject('telemetry', 'edge.1')).toBe('lln.telemetry.edge%2E1')
    fc.assert(
      fc.property(deviceId, (id) => {
        const subject = natsSubject('status', id)
        expect(subject.split('.')).toHaveLength(3)
        expect(deviceIdFromSubject(subject)).toBe(id)
      }),
    )
  })
})
