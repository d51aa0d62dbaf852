import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { credentialKey } from '@liquid-edge/protocol'
import { redisClient, startFakeDevices, startMosquitto, startNatsMqttServer, waitFor } from '@liquid-edge/test/harness'
import { ADMIN, makePackage, testEnv, type Env } from '@liquid-edge/test/controller'
import { runCli } from '../src/index.js'
import { parseSecrets } from '../src/broker-config/secrets.js'

/** `liquid-lln` in-process against the controller at `url`. */
function cli(url: string) {
  return async (...args: string[]) => {
    let out = ''
    let err = ''
    const code = await runCli(['--api-url', url, '--token', ADMIN, ...args], {
      stdout: (s) => (out += s),
      stderr: (s) => (err += s),
      env: {},
      isTTY: false,
    })
    return { code, out, err }
  }
}

/** A connected client that keeps every message it gets, by topic. */
interface Peer {
  client: MqttClient
  got: { topic: string; text: string }[]
  saw(topic: string, text: string): boolean
}

async function peer(url: string, username: string, password: string): Promise<Peer> {
  const client = await mqtt.connectAsync(url, { username, password, clientId: username, reconnectPeriod: 0, connectTimeout: 30_000 })
  const got: Peer['got'] = []
  client.on('message', (topic, payload) => got.push({ topic, text: payload.toString('utf8') }))
  return { client, got, saw: (topic, text) => got.some((m) => m.topic === topic && m.text === text) }
}

/** Why a CONNECT is refused, or 'connected' (then the connection is closed). */
async function connectOutcome(url: string, options: { username?: string; password?: string }): Promise<string> {
  try {
    const c = await mqtt.connectAsync(url, {
      ...options,
      clientId: `probe-${randomBytes(4).toString('hex')}`,
      reconnectPeriod: 0,
      connectTimeout: 30_000,
    })
    await c.endAsync(true)
    return 'connected'
  } catch (err) {
    return err instanceof Error ? err.message : String(err)
  }
}

const WAIT = { timeoutMs: 60_000 }

/**
 * What any broker configured by `liquid-lln broker-config` must show: each device reaches its own
 * topics and nobody else's, the gateway speaks for its child, a consumer only reads, a stale or
 * anonymous client is refused. Every "never delivered" is judged after a later control message on
 * the same subscription arrived.
 */
async function checkBroker(url: string, root: string, s: Map<string, string>): Promise<void> {
  const t = (id: string, kind: string) => `${root}/devices/${id}/${kind}`
  const secret = (id: string) => s.get(id) ?? ''
  // Refused: no credentials, a wrong secret, an id the registry no longer knows.
  expect(await connectOutcome(url, {})).not.toBe('connected')
  expect(await connectOutcome(url, { username: 'bc-a', password: `${secret('bc-a')}x` })).not.toBe('connected')
  expect(await connectOutcome(url, { username: 'bc-gone', password: secret('bc-gone') })).not.toBe('connected')

  const ctl = await peer(url, 'bc-ctl', secret('bc-ctl'))
  const a = await peer(url, 'bc-a', secret('bc-a'))
  const b = await peer(url, 'bc-b', secret('bc-b'))
  const gw = await peer(url, 'bc-gw', secret('bc-gw'))
  const reader = await peer(url, 'bc-reader', secret('bc-reader'))
  try {
    await ctl.client.subscribeAsync([`${root}/devices/+/status`, `${root}/devices/+/telemetry`], { qos: 1 })
    await b.client.subscribeAsync(t('bc-b', 'desired'), { qos: 1 })
    await a.client.subscribeAsync([t('bc-a', 'desired'), t('bc-a', 'cmd')], { qos: 1 })
    // A device's wildcards and another device's topic: granted or refused, nothing of B's may come through them.
    await a.client.subscribeAsync([t('bc-b', 'cmd'), `${root}/devices/+/cmd`, '#'], { qos: 1 }).catch(() => undefined)
    await reader.client.subscribeAsync(`${root}/devices/+/telemetry`, { qos: 1 })

    // Own topics, both ways.
    await a.client.publishAsync(t('bc-a', 'status'), 'a-online', { qos: 1 })
    await waitFor(() => ctl.saw(t('bc-a', 'status'), 'a-online'), { ...WAIT, what: "the controller to get A's status" })
    await ctl.client.publishAsync(t('bc-a', 'desired'), 'a-desired', { qos: 1 })
    await waitFor(() => a.saw(t('bc-a', 'desired'), 'a-desired'), { ...WAIT, what: 'A to get its desired state' })

    // A forges B's status and B's desired state; the controller's and B's next messages are the control.
    await a.client.publishAsync(t('bc-b', 'status'), 'forged-status', { qos: 1 })
    await a.client.publishAsync(t('bc-b', 'desired'), 'forged-desired', { qos: 1 })
    await a.client.publishAsync(t('bc-a', 'status'), 'a-control', { qos: 1 })
    await ctl.client.publishAsync(t('bc-b', 'desired'), 'b-control', { qos: 1 })
    await waitFor(() => ctl.saw(t('bc-a', 'status'), 'a-control'), { ...WAIT, what: "A's control status" })
    await waitFor(() => b.saw(t('bc-b', 'desired'), 'b-control'), { ...WAIT, what: "B's control desired state" })
    expect(ctl.got.filter((m) => m.topic === t('bc-b', 'status'))).toEqual([])
    expect(b.got.filter((m) => m.text.startsWith('forged'))).toEqual([])

    // B's commands never reach A, whatever A subscribed to; A's own do.
    await ctl.client.publishAsync(t('bc-b', 'cmd'), 'b-cmd', { qos: 1 })
    await ctl.client.publishAsync(t('bc-a', 'cmd'), 'a-cmd', { qos: 1 })
    await waitFor(() => a.saw(t('bc-a', 'cmd'), 'a-cmd'), { ...WAIT, what: "A's own command" })
    expect(a.got.filter((m) => m.topic.includes('/bc-b/'))).toEqual([])

    // The gateway speaks for its child; the consumer reads telemetry but publishes nothing.
    await gw.client.publishAsync(t('bc-child', 'telemetry'), 'child-telemetry', { qos: 1 })
    await waitFor(() => reader.saw(t('bc-child', 'telemetry'), 'child-telemetry'), {
      ...WAIT,
      what: "the consumer to read the child's telemetry",
    })
    await reader.client.publishAsync(t('bc-a', 'desired'), 'forged-by-reader', { qos: 1 }).catch(() => undefined)
    await ctl.client.publishAsync(t('bc-a', 'desired'), 'a-control-2', { qos: 1 })
    await waitFor(() => a.saw(t('bc-a', 'desired'), 'a-control-2'), { ...WAIT, what: "A's second control desired state" })
    expect(a.got.map((m) => m.text)).not.toContain('forged-by-reader')

    // A retained forgery: a new subscriber to B's status finds B's own retained status, not A's. (It
    // logs in as the consumer, whose first connection goes first: a second connection with the same
    // client id takes the first one's place, and on Mosquitto the client id is the user name.)
    await b.client.publishAsync(t('bc-b', 'status'), 'b-retained', { qos: 1, retain: true })
    await a.client.publishAsync(t('bc-b', 'status'), 'forged-retained', { qos: 1, retain: true })
    await reader.client.endAsync(true)
    const late = await peer(url, 'bc-reader', secret('bc-reader'))
    try {
      await late.client.subscribeAsync(t('bc-b', 'status'), { qos: 1 })
      await waitFor(() => late.saw(t('bc-b', 'status'), 'b-retained'), { ...WAIT, what: "B's own retained status" })
      expect(late.got.map((m) => m.text)).not.toContain('forged-retained')
    } finally {
      await late.client.endAsync(true)
    }
  } finally {
    // Clear the retained status this run left, then disconnect.
    await b.client.publishAsync(t('bc-b', 'status'), '', { qos: 1, retain: true }).catch(() => undefined)
    await Promise.all([ctl, a, b, gw, reader].map((p) => p.client.endAsync(true)))
  }
}

describe('liquid-lln broker-config', () => {
  let env: Env
  let run: ReturnType<typeof cli>
  let dir: string
  let credentials: string
  const secrets = new Map<string, string>()

  beforeAll(async () => {
    env = await testEnv()
    const c = await env.start(undefined, { mqttUsername: 'bc-ctl' })
    run = cli(c.url)
    dir = await mkdtemp(join(tmpdir(), 'lln-broker-config-'))
    for (const id of ['bc-a', 'bc-b']) {
      const added = await run('device', 'add', id)
      const secret = /secret \(shown once\): (\S+)/.exec(added.out)?.[1]
      if (secret === undefined) throw new Error(`device add ${id}: ${added.out}${added.err}`)
      secrets.set(id, secret)
    }
    expect((await run('device', 'add', 'bc-child', '--no-credential')).code).toBe(0)
    // A gateway and a read-only consumer exist only in the credential store (as liquid-broker provisions them).
    const redis = redisClient()
    const hash = `scrypt$16384$8$1$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`
    const records = [
      { id: 'bc-gw', role: 'gateway', children: ['bc-child'] },
      { id: 'bc-reader', role: 'consumer', children: [] },
    ]
    for (const r of records) await redis.set(credentialKey(r.id, env.prefix), JSON.stringify({ ...r, hash, createdAt: Date.now() }))
    await redis.set(credentialKey('bc-broken', env.prefix), '{"id":"bc-broken","role":"root"}')
    await redis.quit()
    for (const id of ['bc-ctl', 'bc-gw', 'bc-reader', 'bc-gone']) secrets.set(id, randomBytes(32).toString('base64url'))
    credentials = join(dir, 'credentials.txt')
    await writeFile(credentials, `# id:secret\n${[...secrets].map(([id, s]) => `${id}:${s}`).join('\n')}\n`)
  }, 120_000)

  afterAll(async () => {
    await env.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('refuses a registered device without a secret unless told to leave it out, and a malformed credentials file', async () => {
    expect((await run('device', 'add', 'bc-nosecret', '--no-credential')).code).toBe(0)
    try {
      const refused = await run('broker-config', 'mosquitto', '--credentials', credentials, '--out', join(dir, 'refused'))
      expect(refused.code).toBe(2)
      expect(refused.err).toContain('bc-nosecret')
      expect(refused.err).toContain('--allow-missing')
      const bad = join(dir, 'bad.txt')
      await writeFile(bad, 'bc-a:short\n')
      const malformed = await run('broker-config', 'nats', '--credentials', bad, '--out', join(dir, 'bad'))
      expect(malformed.code).toBe(2)
      expect(malformed.err).toMatch(/bad\.txt:1: secret: a secret has at least 16 characters/)
      const unknown = await run('broker-config', 'kafka', '--credentials', credentials, '--out', join(dir, 'bad'))
      expect(unknown.code).toBe(2)
    } finally {
      expect((await run('device', 'remove', 'bc-nosecret')).code).toBe(0)
    }
  })

  it('parses id:secret lines and names the line it refuses', () => {
    const good = 'a'.repeat(20)
    expect(parseSecrets(`# x\n\ndev-1:${good}\n`, 'f').get('dev-1')).toBe(good)
    expect(() => parseSecrets(`dev 1:${good}`, 'f')).toThrow(/f:1: id:/)
    expect(() => parseSecrets(`nocolon`, 'f')).toThrow(/f:1: expected id:secret/)
    expect(() => parseSecrets(`d:${good}\nd:${good}x`, 'f')).toThrow(/f:2: a second, different secret for d/)
  })

  it('mosquitto: a password file and an ACL under which each device reaches only its own topics', async () => {
    const out = join(dir, 'mosquitto')
    const r = await run('broker-config', 'mosquitto', '--credentials', credentials, '--out', out)
    expect(r.code, r.err).toBe(0)
    expect(r.out).toContain('5 users (2 devices, 1 gateway, 1 consumer, 1 controller)')
    expect(r.err).toContain('bc-gone')
    expect(r.err).toContain('credential records in the store that do not validate, left out: 1')
    expect((await stat(join(out, 'passwd'))).mode & 0o777).toBe(0o600)
    const passwd = await readFile(join(out, 'passwd'), 'utf8')
    expect(passwd).not.toContain(secrets.get('bc-a'))
    expect(passwd).not.toContain('bc-gone')
    await using broker = await startMosquitto({ auth: await readFile(join(out, 'mosquitto.conf'), 'utf8') })
    await checkBroker(broker.url, env.root, secrets)
    // A device that claims another's client id connects as itself: B keeps its connection and gets its messages.
    const b = await peer(broker.url, 'bc-b', secrets.get('bc-b') ?? '')
    const ctl = await peer(broker.url, 'bc-ctl', secrets.get('bc-ctl') ?? '')
    try {
      await b.client.subscribeAsync(`${env.root}/devices/bc-b/desired`, { qos: 1 })
      const impostor = await mqtt.connectAsync(broker.url, {
        username: 'bc-a',
        password: secrets.get('bc-a') ?? '',
        clientId: 'bc-b',
        reconnectPeriod: 0,
      })
      await impostor.endAsync(true)
      await ctl.client.publishAsync(`${env.root}/devices/bc-b/desired`, 'after-impostor', { qos: 1 })
      await waitFor(() => b.saw(`${env.root}/devices/bc-b/desired`, 'after-impostor'), { ...WAIT, what: 'B to keep its connection' })
      expect(b.client.connected).toBe(true)
    } finally {
      await Promise.all([b.client.endAsync(true), ctl.client.endAsync(true)])
    }
  }, 240_000)

  it('nats: an accounts block with per-device permissions on the MQTT-mapped subjects', async () => {
    const out = join(dir, 'nats')
    const r = await run('broker-config', 'nats', '--credentials', credentials, '--out', out)
    expect(r.code, r.err).toBe(0)
    const accounts = await readFile(join(out, 'accounts.conf'), 'utf8')
    expect(accounts).not.toContain(secrets.get('bc-a'))
    expect(accounts).toContain(`"${env.root.replaceAll('/', '.')}.devices.bc-a.status"`)
    await using broker = await startNatsMqttServer({ config: accounts })
    await checkBroker(broker.url, env.root, secrets)
  }, 240_000)
})

/** Mosquitto, or a nats-server with its MQTT listener, started with what `broker-config` wrote to `dir`. */
async function brokerFrom(kind: 'mosquitto' | 'nats', dir: string) {
  return kind === 'mosquitto'
    ? startMosquitto({ auth: await readFile(join(dir, 'mosquitto.conf'), 'utf8') })
    : startNatsMqttServer({ config: await readFile(join(dir, 'accounts.conf'), 'utf8') })
}

describe.each(['mosquitto', 'nats'] as const)('a fleet on %s authorised by liquid-lln broker-config', (kind) => {
  it('the controller and its devices log in with their own users and a deploy completes', async () => {
    await using env = await testEnv()
    // The controller's own user comes from its configuration (on the test's open broker it logs in with nothing).
    const first = await env.start('first', { mqttUsername: 'bcd-ctl' })
    const setup = cli(first.url)
    const lines: string[] = []
    for (const id of ['bcd-1', 'bcd-2']) {
      const added = await setup('device', 'add', id, '--labels', 'env=bc')
      const secret = /secret \(shown once\): (\S+)/.exec(added.out)?.[1]
      if (secret === undefined) throw new Error(`device add ${id}: ${added.out}${added.err}`)
      lines.push(`${id}:${secret}`)
    }
    const ctlSecret = randomBytes(32).toString('base64url')
    lines.push(`bcd-ctl:${ctlSecret}`)
    const dir = await mkdtemp(join(tmpdir(), 'lln-broker-config-fleet-'))
    try {
      await writeFile(join(dir, 'credentials.txt'), `${lines.join('\n')}\n`)
      const r = await setup('broker-config', kind, '--credentials', join(dir, 'credentials.txt'), '--out', dir)
      expect(r.code, r.err).toBe(0)
      await using broker = await brokerFrom(kind, dir)
      await Promise.all(env.controllers.splice(0).map((x) => x.close()))
      const c = await env.start('on-mosquitto', { mqttUrl: broker.url, mqttUsername: 'bcd-ctl', mqttPassword: ctlSecret })
      const secrets = new Map(lines.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]))
      await using _devices = await startFakeDevices({ url: broker.url, root: env.root }, ['bcd-1', 'bcd-2'], (id) => ({
        username: id,
        password: secrets.get(id) ?? '',
      }))
      const onBroker = cli(c.url)
      const model = join(dir, 'kws.liquid')
      await writeFile(model, makePackage(env.publisher, 'kws', '1.0.0'))
      expect((await onBroker('model', 'push', model)).code).toBe(0)
      const deployed = await onBroker(
        'deploy',
        '--target',
        'env=bc',
        '--model',
        'kws@1.0.0',
        '--strategy',
        'all',
        '--wait',
        '--timeout',
        '60s',
      )
      expect(deployed.code, deployed.err).toBe(0)
      expect(deployed.out).toContain('completed')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 240_000)
})
