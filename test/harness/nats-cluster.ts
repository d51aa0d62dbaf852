import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import * as z from 'zod'
import { childServer, freePort, type ChildServer } from './servers.js'
import { waitFor } from './wait.js'

/** One nats-server of a {@link NatsCluster}. */
export interface NatsNode {
  readonly name: string
  /** `mqtt://127.0.0.1:<port>`: its MQTT 3.1.1 listener. */
  readonly mqttUrl: string
  /** `nats://127.0.0.1:<port>`: its NATS client port (JetStream, the broker bridge). */
  readonly natsUrl: string
  /** Its monitoring endpoint (`/healthz`, `/jsz`, `/connz?mqtt_client=…`). */
  readonly httpUrl: string
  /** True between `start()` and `stop()`. */
  readonly running: boolean
  /** The client ids of the MQTT connections this node holds now (from its `/connz`). */
  mqttClients(): Promise<string[]>
  /** SIGKILL, as a crash or a pulled plug: no shutdown work, no goodbye to the cluster. */
  stop(): Promise<void>
  /** Start again on the same ports and JetStream store; resolves when it is back in the cluster. */
  start(): Promise<void>
}

export interface NatsCluster extends AsyncDisposable {
  readonly nodes: readonly NatsNode[]
  /** Every node's MQTT URL, in node order: what agents and the controller take as their broker list. */
  readonly mqttUrls: readonly string[]
  readonly natsUrls: readonly string[]
  /** Kill every node and remove their stores. */
  close(): Promise<void>
}

export interface NatsClusterOptions {
  /** @defaultValue 3 */
  size?: number
  /**
   * Configuration text added to every node, e.g. `accounts { … }` from `liquid-lln broker-config nats`.
   * With users in it, pass `warmUp` credentials (or `false`).
   */
  config?: string
  /**
   * Connect once through MQTT before returning, so the server has created its MQTT streams (a few
   * seconds on first use) and the first client of the test does not pay for it. `false` skips it.
   * @defaultValue anonymous
   */
  warmUp?: { username: string; password: string } | false
  /**
   * Replicas of the JetStream consumer behind each QoS 1 subscription. With 1, a consumer lives on one
   * node, picked at random among the stream's (often not its client's node): when that node dies, its
   * client stays connected and receives no QoS 1 message again. With as many as the cluster has nodes,
   * consumers outlive any one node; with a node down a new subscription may be refused (SUBACK 0x80)
   * for some seconds while the new consumer elects its leader, and clients subscribe again.
   * @defaultValue `size`
   */
  consumerReplicas?: number
}

/**
 * A cluster of nats-servers on free ports, each with JetStream and the MQTT listener (MQTT needs
 * both a `server_name` and JetStream), its MQTT streams (sessions, retained messages, QoS 1
 * messages) replicated on every node so they outlive any single node. Resolves when every node is healthy
 * (JetStream current with its meta leader) and MQTT answers.
 */
export async function startNatsCluster(options: NatsClusterOptions = {}): Promise<NatsCluster> {
  const size = options.size ?? 3
  const dir = await mkdtemp(join(tmpdir(), 'lln-nats-cluster-'))
  const ports: { client: number; route: number; http: number; mqtt: number }[] = []
  for (let i = 0; i < size; i++)
    ports.push({ client: await freePort(), route: await freePort(), http: await freePort(), mqtt: await freePort() })
  const routes = ports.map((p) => `nats-route://127.0.0.1:${p.route}`).join(', ')
  const servers: (ChildServer & AsyncDisposable)[] = []
  const close = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s[Symbol.asyncDispose]()))
    await rm(dir, { recursive: true, force: true })
  }
  try {
    for (const [i, p] of ports.entries()) {
      const name = `n${i + 1}`
      const conf = join(dir, `${name}.conf`)
      await writeFile(
        conf,
        [
          `server_name: ${name}`,
          `listen: 127.0.0.1:${p.client}`,
          `http: 127.0.0.1:${p.http}`,
          `jetstream { store_dir: "${join(dir, name)}" }`,
          `cluster { name: lln, listen: 127.0.0.1:${p.route}, routes: [${routes}] }`,
          // Replicated on every node: a retained desired state, a session or a subscription's consumer survives a node.
          `mqtt { listen: 127.0.0.1:${p.mqtt}, stream_replicas: ${size}, consumer_replicas: ${options.consumerReplicas ?? size} }`,
          options.config ?? '',
        ].join('\n'),
      )
      servers.push(await childServer('mqtt', 'nats-server', () => ['-c', conf, '-l', join(dir, `${name}.log`)], { port: p.mqtt }))
    }
    const nodes = servers.map((server, i) => natsNode(`n${i + 1}`, server, ports[i] ?? { client: 0, http: 0 }))
    await Promise.all(nodes.map((n) => healthy(n)))
    if (options.warmUp !== false) await warmUp(nodes, options.warmUp)
    return {
      nodes,
      mqttUrls: nodes.map((n) => n.mqttUrl),
      natsUrls: nodes.map((n) => n.natsUrl),
      close,
      [Symbol.asyncDispose]: close,
    }
  } catch (err) {
    await close()
    throw err
  }
}

const ConnzSchema = z.looseObject({ connections: z.array(z.looseObject({ mqtt_client: z.string().optional() })).nullish() })

function natsNode(name: string, server: ChildServer, ports: { client: number; http: number }): NatsNode {
  let running = true
  const node: NatsNode = {
    name,
    mqttUrl: server.url,
    natsUrl: `nats://127.0.0.1:${ports.client}`,
    httpUrl: `http://127.0.0.1:${ports.http}`,
    get running() {
      return running
    },
    async mqttClients() {
      const res = await fetch(`${node.httpUrl}/connz?limit=100000`)
      if (!res.ok) throw new Error(`${node.name} /connz: HTTP ${res.status}`)
      const { connections } = ConnzSchema.parse(await res.json())
      return (connections ?? []).flatMap((c) => (c.mqtt_client === undefined ? [] : [c.mqtt_client]))
    },
    async stop() {
      running = false
      await server.stop()
    },
    async start() {
      await server.start()
      running = true
      await healthy(node)
    },
  }
  return node
}

/** `/healthz` answers ok: the node runs JetStream and is current with the cluster's meta leader. */
async function healthy(node: NatsNode): Promise<void> {
  await waitFor(
    async () => {
      const res = await fetch(`${node.httpUrl}/healthz`)
      return res.ok
    },
    { timeoutMs: 60_000, intervalMs: 200, what: `nats-server ${node.name} to be healthy` },
  )
}

/**
 * A retained QoS 1 message through the first node, read back through every other: each node has made
 * its MQTT session manager (which loads the retained messages, seconds on first use) and the MQTT
 * streams exist and replicate. A node learns a retained message from the others a moment after it was
 * written (through its consumer of `$MQTT_rmsgs`), and a subscription made before that moment does
 * not get it: subscribe again until it does.
 */
async function warmUp(nodes: readonly NatsNode[], credentials?: { username: string; password: string }): Promise<void> {
  const topic = `lln-warm-up/${String(Date.now())}`
  const [writer, ...readers] = nodes
  if (writer === undefined) return
  const options = { ...credentials, reconnectPeriod: 500, connectTimeout: 30_000 }
  const id = (role: string): string => `warm-up-${role}-${String(Date.now())}`
  const pub = await mqtt.connectAsync(writer.mqttUrl, { ...options, clientId: id('w') })
  const subs = await Promise.all(readers.map((r, i) => mqtt.connectAsync(r.mqttUrl, { ...options, clientId: id(`r${String(i)}`) })))
  try {
    await pub.publishAsync(topic, 'ok', { qos: 1, retain: true })
    await Promise.all(
      subs.map(async (sub, i) => {
        let got = false
        sub.on('message', (t) => {
          if (t === topic) got = true
        })
        await waitFor(
          async () => {
            if (got) return true
            await sub.unsubscribeAsync(topic)
            await sub.subscribeAsync(topic, { qos: 1 })
            return false
          },
          { timeoutMs: 60_000, intervalMs: 500, what: `the retained warm-up message through ${readers[i]?.name ?? '?'}` },
        )
      }),
    )
    await pub.publishAsync(topic, '', { qos: 1, retain: true })
  } finally {
    await Promise.all([pub, ...subs].map((c) => c.endAsync(true)))
  }
}
