/**
 * The core rollout cycle on a 3-node NATS cluster as the broker, with real processes: nats-server
 * with JetStream and its MQTT listener on each node, the controller and a simulated fleet given the
 * three MQTT URLs as one comma-separated list (device i starts on node i mod 3, the controller on the
 * first). The third node is SIGKILLed mid-rollout: its devices reconnect to the others, the rollout
 * finishes with one new generation per device and none left behind, and a bad release is then
 * rolled back by the rules on the two nodes left.
 *
 * The MQTT streams and the consumers behind QoS 1 subscriptions are replicated on every node
 * (`stream_replicas`, `consumer_replicas`): a consumer with one replica lives on one node, often
 * not the node of its client, and when that node dies its client stays connected and receives no
 * QoS 1 message again — devices on the surviving nodes never got the next step's desired state.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REDIS_URL, startNatsCluster, uniqueRoot, waitFor, type NatsCluster, type NatsNode } from '@liquid-edge/test/harness'
import { listDevices } from '../sandbox/fleet.js'
import { clusterCycle } from './cluster-cycle.js'
import { startScenario, type Scenario } from './operator.js'

const DEVICES = 9

let cluster: NatsCluster | undefined
let redis: Redis | undefined
let scenario: Scenario | undefined
beforeAll(async () => {
  cluster = await startNatsCluster({ consumerReplicas: 3 })
  redis = new Redis(REDIS_URL)
  scenario = await startScenario('nats-cluster', {
    externalBroker: { url: cluster.mqttUrls.join(','), root: uniqueRoot() },
    fleet: [{ idPrefix: 'nc', count: DEVICES, profile: 'x86-edge', labels: { env: 'staging', hw: 'x86-edge' }, rate: 20 }],
  })
}, 600_000)

afterAll(async () => {
  redis?.disconnect()
  await scenario?.close()
  await cluster?.close()
}, 120_000)

/** Which of `ids` each running node holds an MQTT connection for now. */
async function spread(nodes: readonly NatsNode[], ids: readonly string[]): Promise<Record<string, string[]>> {
  const entries = await Promise.all(
    nodes.filter((n) => n.running).map(async (n) => [n.name, (await n.mqttClients()).filter((c) => ids.includes(c)).sort()] as const),
  )
  return Object.fromEntries(entries)
}

describe('a 3-node NATS cluster as the broker, one node SIGKILLed mid-rollout', () => {
  it('moves its devices to the other nodes; the rollout finishes once per device and a bad release is rolled back', async ({
    annotate,
  }) => {
    if (cluster === undefined || scenario === undefined || redis === undefined) throw new Error('no scenario')
    const { sandbox, op } = scenario
    const { nodes } = cluster
    const victim = nodes[2]
    if (victim === undefined) throw new Error('no third node')
    const ids = (await listDevices(sandbox)).map((d) => d.id)
    expect(ids).toHaveLength(DEVICES)
    const before = await spread(nodes, ids)
    for (const n of nodes) expect(before[n.name]?.length ?? 0, JSON.stringify(before)).toBeGreaterThan(0)
    await annotate(`devices per node before the kill: ${JSON.stringify(before)}`)
    await clusterCycle({
      sandbox,
      op,
      redis,
      devices: DEVICES,
      kill: () => victim.stop(),
      moved: async () => {
        // Every device is connected to one of the two nodes left.
        await waitFor(async () => Object.values(await spread(nodes, ids)).flat().length === DEVICES, {
          timeoutMs: 60_000,
          what: `${DEVICES} devices on the nodes left`,
        }).catch(async (err: unknown) => {
          throw new Error(`${String(err)}; devices per node: ${JSON.stringify(await spread(nodes, ids))}`)
        })
        await annotate(`devices per node after the kill: ${JSON.stringify(await spread(nodes, ids))}`)
      },
      say: (line) => void annotate(line),
    })
  }, 900_000)
})
