import { once } from 'node:events'
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { createTopics } from '@liquid-edge/protocol'
import { redisClient, startFakeDevices, waitFor } from '@liquid-edge/test/harness'
import { Resources, startOrClose } from '../src/resources.js'
import { testEnv, type Env } from './helpers.js'

/** Redis clients of one controller instance: its own connection and its BullMQ connections. */
async function redisClientsOf(env: Env, instanceId: string): Promise<string[]> {
  const redis = redisClient()
  try {
    const list = (await redis.client('LIST')) as string
    return list
      .split('\n')
      .map((line) => /\bname=(\S+)/.exec(line)?.[1] ?? '')
      .filter((name) => name === `liquid-controller:${instanceId}` || name.startsWith(`${env.bullPrefix}:`))
  } finally {
    await redis.quit()
  }
}

/** Client ids connected to the env's broker. */
function mqttClients(env: Env): string[] {
  // aedes keeps its connected clients by id (not in its typings).
  return Object.keys((env.broker.aedes as unknown as { clients: Record<string, unknown> }).clients)
}

/** The MQTT packet types (high nibble of the fixed header) in `buf`, and the bytes of an incomplete last packet. */
function packetTypes(buf: Buffer): { types: number[]; rest: Buffer } {
  const types: number[] = []
  let at = 0
  for (;;) {
    // Fixed header: type and flags, then the remaining length (1 to 4 bytes, 7 bits each).
    let len = 0
    let i = at + 1
    let shift = 0
    while (i < buf.length && (buf[i] ?? 0) & 0x80) {
      len += ((buf[i] ?? 0) & 0x7f) << shift
      shift += 7
      i++
    }
    if (i >= buf.length) break
    len += ((buf[i] ?? 0) & 0x7f) << shift
    if (i + 1 + len > buf.length) break
    types.push((buf[at] ?? 0) >> 4)
    at = i + 1 + len
  }
  return { types, rest: buf.subarray(at) }
}

const SUBSCRIBE = 8

/**
 * A proxy to the broker that, once its client subscribes, holds what the broker sends until all of
 * `expected` (topics of retained messages) is in it, then hands it over in one write: the SUBACK and
 * the retained messages in one read, as a busy controller process reads them.
 */
async function coalescingProxy(brokerPort: number, expected: readonly string[]): Promise<{ url: string; close: () => void }> {
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const broker = createConnection(brokerPort, '127.0.0.1')
    sockets.add(client).add(broker)
    let fromClient: Buffer = Buffer.alloc(0)
    let held: Buffer[] | null = null
    let flushed = false
    client.on('data', (chunk) => {
      const parsed = packetTypes(Buffer.concat([fromClient, chunk]))
      fromClient = parsed.rest
      if (held === null && !flushed && parsed.types.includes(SUBSCRIBE)) held = []
      broker.write(chunk)
    })
    broker.on('data', (chunk) => {
      if (held === null) {
        client.write(chunk)
        return
      }
      held.push(chunk)
      const all = Buffer.concat(held)
      if (!expected.every((topic) => all.includes(topic))) return
      held = null
      flushed = true
      client.write(all)
    })
    for (const s of [client, broker])
      s.on('error', () => undefined).on('close', () => {
        client.destroy()
        broker.destroy()
      })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      for (const s of sockets) s.destroy()
      server.close()
    },
  }
}

describe('controller start-up', () => {
  it('hears every retained reported state the broker sends on its subscription, even in the read of the SUBACK', async () => {
    await using env = await testEnv()
    const ids = Array.from({ length: 12 }, (_, i) => `dev-${i}`)
    // The devices reported while no controller ran: their last reports wait retained on the broker.
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root }, ids)
    const proxy = await coalescingProxy(
      env.broker.port,
      ids.map((id) => createTopics(env.root).reported(id)),
    )
    try {
      const c = await env.start('startup-retained', { mqttUrl: proxy.url })
      try {
        // Nothing else brings these reports back (the devices publish no more): the controller hears them on subscribing, or never.
        await waitFor(async () => (await c.live.views(ids)).every((v, i) => v.reported?.phase === devices[i]?.phase), {
          timeoutMs: 20_000,
          what: 'the controller to hear every retained report',
        })
      } finally {
        await c.close()
      }
    } finally {
      proxy.close()
    }
  })

  it('closes Redis, BullMQ and MQTT connections it opened when the HTTP port is taken', async () => {
    await using env = await testEnv()
    const blocker = createServer()
    blocker.listen(0, '127.0.0.1')
    await once(blocker, 'listening')
    const port = (blocker.address() as AddressInfo).port
    try {
      await expect(env.start('startup-busy', { httpHost: '127.0.0.1', httpPort: port })).rejects.toThrow(/EADDRINUSE/)
      await waitFor(async () => (await redisClientsOf(env, 'startup-busy')).length === 0, { what: 'no Redis connection left' })
      await waitFor(() => !mqttClients(env).includes('liquid-controller-startup-busy'), { what: 'the MQTT client gone' })
    } finally {
      blocker.close()
    }
  })

  it('closes every connection on close, and a second close does nothing more', async () => {
    await using env = await testEnv()
    const c = await env.start('startup-close')
    const before = await redisClientsOf(env, 'startup-close')
    expect(before).toContain('liquid-controller:startup-close')
    // BullMQ's own connections (queues, workers) are counted too.
    expect(before.filter((n) => n.startsWith(`${env.bullPrefix}:`)).length).toBeGreaterThan(0)
    expect(mqttClients(env)).toContain('liquid-controller-startup-close')
    await Promise.all([c.close(), c.close()])
    await waitFor(async () => (await redisClientsOf(env, 'startup-close')).length === 0, { what: 'no Redis connection left' })
    await waitFor(() => !mqttClients(env).includes('liquid-controller-startup-close'), { what: 'the MQTT client gone' })
  })
})

describe('Resources', () => {
  it('closes in reverse order once, keeps closing past a failure, and refuses to open while closing', async () => {
    const closed: string[] = []
    const logged: unknown[] = []
    const logger = pino({ level: 'error' }, { write: (line: string) => logged.push(JSON.parse(line)) })
    const resources = new Resources(logger)
    resources.add('a', 1, () => closed.push('a'))
    await resources.open(
      'b',
      () => Promise.resolve(2),
      () => Promise.reject(new Error('b will not close')),
    )
    resources.add('c', 3, async () => {
      await Promise.resolve()
      closed.push('c')
    })
    await Promise.all([resources.close(), resources.close()])
    expect(closed).toEqual(['c', 'a'])
    expect(logged).toMatchObject([{ msg: 'closing failed', resource: 'b' }])
    expect(() => resources.add('d', 4, () => undefined)).toThrow(/closing/)
  })

  it('closes what the steps before a failed one opened, and rethrows its error', async () => {
    const closed: string[] = []
    const resources = new Resources(pino({ level: 'silent' }))
    const start = startOrClose(resources, async () => {
      resources.add('redis', {}, () => closed.push('redis'))
      await resources.open(
        'mqtt',
        () => Promise.resolve({}),
        () => closed.push('mqtt'),
      )
      await resources.open(
        'http',
        () => Promise.reject(new Error('port taken')),
        () => closed.push('http'),
      )
    })
    await expect(start).rejects.toThrow('port taken')
    expect(closed).toEqual(['mqtt', 'redis'])
  })
})
