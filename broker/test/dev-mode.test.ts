import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTopics, isFleetError } from '@liquid-edge/protocol'
import { parseConfig } from '@liquid-edge/broker'
import { connectClient, startTestBroker, waitFor, type TestBroker } from '@liquid-edge/test/harness'
import { createProgram } from '../src/cli/program.js'
import { telemetry, uid } from './fixtures.js'

async function granted(client: MqttClient, filter: string): Promise<number> {
  try {
    return (await client.subscribeAsync(filter, { qos: 1 }))[0]?.qos ?? -1
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet
    if (packet?.granted === undefined) throw err
    return packet.granted[0] ?? -1
  }
}

function configError(input: unknown): string {
  try {
    parseConfig(input)
  } catch (err) {
    if (isFleetError(err, 'CONFIG_INVALID')) return err.message
    throw err
  }
  return ''
}

describe('development mode (--allow-anonymous)', () => {
  it('is refused off loopback unless confirmed with a second flag', () => {
    expect(configError({ auth: { allowAnonymous: true } })).toMatch(/bind to 127\.0\.0\.1.*--allow-anonymous-on-network/)
    expect(configError({ host: '0.0.0.0', auth: { allowAnonymous: true, anonymousOnNetwork: true } })).toBe('')
    expect(configError({ host: '127.0.0.1', auth: { allowAnonymous: true } })).toBe('')
    expect(configError({ host: '::1', auth: { allowAnonymous: true } })).toBe('')
  })

  it('liquid-broker --allow-anonymous prints a development-mode banner that names what anonymous clients get', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lln-dev-'))
    let err = ''
    let stop = (): void => undefined
    const stopped = new Promise<string>(
      (resolve) =>
        (stop = () => {
          resolve('SIGTERM')
        }),
    )
    const program = createProgram({ env: {}, stdout: () => undefined, stderr: (t) => (err += t), stopSignal: () => stopped })
    program.exitOverride()
    const args = ['--allow-anonymous', '--host', '127.0.0.1', '--mqtt-port', '0', '--no-http', '--log-level', 'silent']
    const running = program.parseAsync([...args, '--credentials-file', join(dir, 'c.json')], { from: 'user' })
    try {
      await waitFor(() => err.includes('DEVELOPMENT MODE'), { what: 'the banner' })
      expect(err).toMatch(/anonymous clients may use: readwrite # \(never anything under lln\/v1\)/)
    } finally {
      stop()
      await running
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('anonymous clients', () => {
  let tb: TestBroker
  let t: ReturnType<typeof createTopics>
  beforeAll(async () => {
    tb = await startTestBroker({ config: { auth: { allowAnonymous: true } } })
    t = createTopics(tb.root)
  })
  afterAll(async () => {
    await tb.close()
  })

  it('connect without credentials and use topics outside the fleet root', async () => {
    await using a = await connectClient(tb.url, { clientId: uid('anon') })
    await using b = await connectClient(tb.url, { clientId: uid('anon') })
    expect(await granted(b, 'sensors/#')).toBe(1)
    const got = new Promise<string>((resolve) =>
      b.once('message', (_t, p) => {
        resolve(p.toString())
      }),
    )
    await a.publishAsync('sensors/kitchen/temp', '21.5', { qos: 1 })
    expect(await got).toBe('21.5')
  })

  it('get nothing under the fleet root: refused subscriptions, dropped publishes, no fleet topics through #', async () => {
    const dev = uid('dev')
    await using device = await tb.connect(dev)
    await using anon = await connectClient(tb.url, { clientId: uid('anon') })
    expect(await granted(anon, t.allDevices('telemetry'))).toBe(128)
    expect(await granted(anon, t.desired(dev))).toBe(128)
    const seen: string[] = []
    anon.on('message', (topic) => seen.push(topic))
    expect(await granted(anon, '#')).toBe(1)
    await anon.publishAsync(t.telemetry(dev), telemetry(dev), { qos: 1 })
    await device.publishAsync(t.telemetry(dev), telemetry(dev), { qos: 1 })
    await anon.publishAsync('marker/after', 'x', { qos: 1 })
    await waitFor(() => seen.includes('marker/after'), { what: 'the marker' })
    expect(seen).toEqual(['marker/after'])
    expect(tb.broker.clientStats(anon.options.clientId ?? '')?.notAuthorized).toBe(1)
  })

  it('may not use the client id of a registered device (it would take over its session)', async () => {
    const dev = uid('dev')
    await tb.provision(dev)
    await expect(connectClient(tb.url, { clientId: dev })).rejects.toMatchObject({ code: 2 })
    const refused = (await tb.broker.metrics.loginsRefused.get()).values.find((v) => v.labels.reason === 'reserved_id')
    expect(refused?.value).toBe(1)
  })

  it('are refused when the broker is not in development mode', async () => {
    await using strict = await startTestBroker()
    await expect(connectClient(strict.url, { clientId: uid('anon') })).rejects.toMatchObject({ code: 2 })
  })
})

describe('application topics', () => {
  let tb: TestBroker
  let t: ReturnType<typeof createTopics>
  beforeAll(async () => {
    tb = await startTestBroker({
      config: { appTopics: 'readwrite app/%c/# device,gateway; read app/# consumer; readwrite # gateway; write inbox/%u device' },
    })
    t = createTopics(tb.root)
  })
  afterAll(async () => {
    await tb.close()
  })

  it('let a device publish its own application data under app/%c/# for readers the rules allow', async () => {
    const dev = uid('dev')
    await using device = await tb.connect(dev)
    await using dash = await tb.connect(uid('dash'), { role: 'consumer' })
    expect(await granted(dash, 'app/#')).toBe(1)
    const got = new Promise<string>((resolve) =>
      dash.once('message', (topic) => {
        resolve(topic)
      }),
    )
    await device.publishAsync(`app/${dev}/vibration`, '{"rms":0.3}', { qos: 1 })
    expect(await got).toBe(`app/${dev}/vibration`)
    await device.publishAsync(`inbox/${dev}`, 'hello', { qos: 1 })
    expect(tb.broker.clientStats(dev)?.notAuthorized).toBe(0)
  })

  it('keep a device to its own application topics and its access (%c, write-only, read-only)', async () => {
    const [dev, other] = [uid('dev'), uid('other')]
    await using device = await tb.connect(dev)
    await using dash = await tb.connect(uid('dash'), { role: 'consumer' })
    expect(await granted(device, `app/${other}/#`)).toBe(128)
    expect(await granted(device, `inbox/${dev}`)).toBe(128)
    await device.publishAsync(`app/${other}/x`, 'spoof', { qos: 1 })
    await dash.publishAsync(`app/${dev}/x`, 'nope', { qos: 1 })
    await waitFor(() => tb.broker.clientStats(dev)?.notAuthorized === 1, { what: 'the refusal' })
    expect(tb.broker.clientStats(dash.options.clientId ?? '')?.notAuthorized).toBe(1)
  })

  it('never loosen the fleet root: a gateway granted # still cannot speak for other devices or read their commands', async () => {
    const [gw, child, stranger] = [uid('gw'), uid('mcu'), uid('dev')]
    await using gateway = await tb.connect(gw, { role: 'gateway', children: [child] })
    await using other = await tb.connect(stranger)
    expect(await granted(gateway, t.cmd(stranger))).toBe(128)
    expect(await granted(gateway, t.allDevices('cmd'))).toBe(128)
    expect(await granted(gateway, t.cmd(child))).toBe(1)
    const seen: string[] = []
    gateway.on('message', (topic) => seen.push(topic))
    expect(await granted(gateway, '#')).toBe(1)
    await other.publishAsync(t.telemetry(stranger), telemetry(stranger), { qos: 1 })
    await gateway.publishAsync(t.telemetry(stranger), telemetry(stranger), { qos: 1 })
    await gateway.publishAsync('gw/marker', 'x', { qos: 1 })
    await waitFor(() => seen.includes('gw/marker'), { what: 'the marker' })
    expect(seen.filter((topic) => topic.startsWith(tb.root))).toEqual([])
    expect(tb.broker.clientStats(gw)?.notAuthorized).toBe(1)
  })

  it('are validated at start: a pattern must be a topic filter outside $', () => {
    expect(configError({ appTopics: 'readwrite a/#/b device' })).toMatch(/valid MQTT topic filter/)
    expect(configError({ appTopics: 'read $SYS/# consumer' })).toMatch(/must not start with \$/)
    expect(configError({ appTopics: 'readwrite app/%c+/# device' })).toMatch(/%c and %u/)
    expect(configError({ appTopics: 'readwrite app/# robots' })).toMatch(/roles/)
    expect(configError({ appTopics: 'app/#' })).not.toBe('')
    expect(configError({ appTopics: [{ pattern: 'app/%c/#', access: 'read', roles: ['device'] }] })).toBe('')
  })
})
