import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Aedes } from 'aedes'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAgent, createGatewaySession, createMemoryStateStore, createMqttTransport } from '@liquid-edge/agent'
import {
  FakeDriver,
  freePort,
  publisherKeyPair,
  startPlainBroker,
  startTcpProxy,
  uniqueRoot,
  waitFor,
  type PlainBroker,
} from '@liquid-edge/test/harness'
import { createFixture } from './support/fixture.js'

let broker: PlainBroker
beforeAll(async () => {
  broker = await startPlainBroker()
})
afterAll(async () => {
  await broker.close()
})

describe('agent transports', () => {
  it('runs several agents over one shared gateway connection', async () => {
    await using fx = await createFixture(broker.url)
    const gateway = createGatewaySession({ url: broker.url, gatewayId: `gw-${fx.deviceId}`, root: fx.root, reconnectMinMs: 50 })
    const dir = await mkdtemp(join(tmpdir(), 'lln-gw-'))
    try {
      const drivers = [new FakeDriver(), new FakeDriver()]
      const agents = await Promise.all(
        drivers.map((driver, i) =>
          createAgent({
            deviceId: i === 0 ? fx.deviceId : `${fx.deviceId}-2`,
            root: fx.root,
            stateDir: join(dir, String(i)),
            stateStore: createMemoryStateStore(),
            telemetryBufferOnDisk: false,
            driver,
            publisherKeys: [fx.keys.publicKeyPem],
            transport: gateway.transportFor(i === 0 ? fx.deviceId : `${fx.deviceId}-2`),
          }),
        ),
      )
      await waitFor(() => agents.every((a) => a.connected), { what: 'both children online' })
      const online = await waitFor(() => fx.status.find((s) => s.online))
      expect(online.gateway).toBe(`gw-${fx.deviceId}`)
      await fx.desired(1, fx.model({ version: '1.0.0' }))
      await fx.waitPhase('active', 1)
      expect(drivers[0]?.activeVersion).toBe('1.0.0')
      expect(drivers[1]?.activeVersion).toBeNull()
      const reply = await fx.waitReply(await fx.command({ kind: 'ping', expiresAt: Date.now() + 5000 }))
      expect(reply.ok).toBe(true)
      for (const a of agents) await a.close()
      await waitFor(() => fx.status.at(-1)?.online === false, { what: 'child offline on close' })
    } finally {
      await gateway.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('gives a gateway child a higher session on every connection of the gateway', async () => {
    await using fx = await createFixture(broker.url)
    await using proxy = await startTcpProxy(broker.port)
    const gateway = createGatewaySession({
      url: proxy.url,
      gatewayId: `gw-${fx.deviceId}`,
      root: fx.root,
      reconnectMinMs: 20,
      reconnectMaxMs: 50,
    })
    const dir = await mkdtemp(join(tmpdir(), 'lln-gw-'))
    try {
      const agent = await createAgent({
        deviceId: fx.deviceId,
        root: fx.root,
        stateDir: dir,
        stateStore: createMemoryStateStore(),
        telemetryBufferOnDisk: false,
        driver: new FakeDriver(),
        publisherKeys: [fx.keys.publicKeyPem],
        transport: gateway.transportFor(fx.deviceId),
      })
      const first = await waitFor(() => fx.status.find((s) => s.online), { what: 'the child online' })
      proxy.cut()
      await waitFor(() => !agent.connected, { what: 'the gateway offline' })
      proxy.restore()
      const second = await waitFor(() => fx.status.find((s) => s.online && s.session > first.session), { what: 'a new session' })
      expect(second.gateway).toBe(`gw-${fx.deviceId}`)
      await agent.close()
    } finally {
      await gateway.close()
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('moves to the next broker of its list when its node goes away, and back round the list', async () => {
    await using fx = await createFixture(broker.url)
    const port = Number(new URL(broker.url).port)
    // Two "nodes" (relays to one broker, so what the agent published stays visible) and a dead one.
    await using a = await startTcpProxy(port)
    await using b = await startTcpProxy(port)
    const dead = `mqtt://127.0.0.1:${await freePort()}`
    const { agent } = await fx.startAgent({ mqtt: { url: [a.url, dead, b.url], reconnectMinMs: 50, reconnectMaxMs: 300 } })
    await waitFor(() => fx.status.some((s) => s.online), { timeoutMs: 10_000, what: 'online through node a' })
    const first = Math.max(...fx.status.filter((s) => s.online).map((s) => s.session))
    a.cut()
    // Past the dead node to b, with a newer session.
    await waitFor(() => fx.status.some((s) => s.online && s.session > first) && agent.connected, {
      timeoutMs: 15_000,
      what: 'online again through node b',
    })
    const second = Math.max(...fx.status.filter((s) => s.online).map((s) => s.session))
    a.restore()
    b.cut()
    await waitFor(() => fx.status.some((s) => s.online && s.session > second) && agent.connected, {
      timeoutMs: 15_000,
      what: 'online again through node a, round the list',
    })
  })

  it('waits refusedDelayMs before retrying after the broker refuses the CONNECT', async () => {
    const refusing = await Aedes.createBroker({
      authenticate: (_client, _user, _pass, done) => {
        done(Object.assign(new Error('bad credentials'), { returnCode: 4 as const }), false)
      },
    })
    const attempts: number[] = []
    const server = createServer((socket) => {
      attempts.push(Date.now())
      refusing.handle(socket)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`
    const transport = createMqttTransport({ url, deviceId: 'refused-1', root: uniqueRoot(), reconnectMinMs: 10, refusedDelayMs: 400 })
    let sessions = 0
    await transport.start({
      message: () => undefined,
      connected: () => undefined,
      disconnected: () => undefined,
      nextSession: () => Promise.resolve(++sessions),
      status: () => new Uint8Array([123, 125]),
    })
    try {
      await waitFor(() => attempts.length >= 3, { timeoutMs: 5000, what: 'three attempts' })
      const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] ?? t))
      for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(380)
      expect(sessions).toBeGreaterThanOrEqual(3)
    } finally {
      await transport.close()
      await new Promise<void>((resolve) => {
        refusing.close(() => {
          resolve()
        })
      })
      server.close()
    }
  })

  it('refuses invalid options with CONFIG_INVALID', async () => {
    await expect(
      createAgent({
        deviceId: 'bad/id',
        stateDir: '/tmp/x',
        driver: new FakeDriver(),
        publisherKeys: [publisherKeyPair().publicKeyPem],
        mqtt: { url: broker.url },
      }),
    ).rejects.toMatchObject({ code: 'CONFIG_INVALID' })
  })
})
