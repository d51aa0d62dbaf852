/**
 * The embedded broker's own cluster under failure, with real processes: two `liquid-broker` nodes
 * on one Redis (`--persistence redis`: sessions, retained desired states and messages between nodes
 * through Redis), the controller and a simulated fleet given both nodes as one comma-separated list
 * (the controller and half the devices on the first). The first node is SIGKILLed mid-rollout: its
 * clients move to the other, the rollout finishes with one new generation per device and none left
 * behind, and a bad release is then rolled back by the rules on the surviving node.
 */
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startRedisServer, waitFor, type ChildServer } from '@liquid-edge/test/harness'
import type { BrokerNode } from '../sandbox/sandbox.js'
import { clusterCycle } from './cluster-cycle.js'
import { startScenario, type Scenario } from './operator.js'

const DEVICES = 8

/** The clients a node holds now, every role, from its `/metrics`. */
async function clientsOn(node: BrokerNode): Promise<number> {
  const text = await (await fetch(`${node.httpUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text()
  const lines = text.split('\n').filter((l) => l.startsWith('lln_broker_clients_connected{'))
  if (lines.length === 0) throw new Error(`${node.name} /metrics has no lln_broker_clients_connected`)
  return lines.reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0)
}

// A Redis of the test's own: the nodes' persistence keys (retained messages, sessions) have no prefix.
let redisServer: (ChildServer & AsyncDisposable) | undefined
let redis: Redis | undefined
let scenario: Scenario | undefined
beforeAll(async () => {
  redisServer = await startRedisServer()
  redis = new Redis(redisServer.url)
  scenario = await startScenario('broker-cluster', {
    redisUrl: redisServer.url,
    brokerNodes: 2,
    fleet: [{ idPrefix: 'bc', count: DEVICES, profile: 'x86-edge', labels: { env: 'staging', hw: 'x86-edge' }, rate: 20 }],
    // The runbook's rule times: FAST_RULES (1.5 s of silence is unresponsive) rolled the first install
    // back at a load of 40, while the agents were busy installing.
  })
}, 600_000)

afterAll(async () => {
  redis?.disconnect()
  await scenario?.close()
  await redisServer?.[Symbol.asyncDispose]()
}, 60_000)

describe('two liquid-broker nodes on one Redis, one SIGKILLed mid-rollout', () => {
  it('moves its clients to the other node; the rollout finishes once per device and a bad release is rolled back', async ({ annotate }) => {
    if (scenario === undefined || redis === undefined) throw new Error('no scenario')
    const { sandbox, op } = scenario
    const [victim, survivor] = sandbox.brokers
    if (victim === undefined || survivor === undefined) throw new Error(`expected two broker nodes, got ${sandbox.brokers.length}`)
    // Spread: the simulator starts device i on node i mod 2, the controller on the first.
    const spread = { [victim.name]: await clientsOn(victim), [survivor.name]: await clientsOn(survivor) }
    expect(spread[victim.name], JSON.stringify(spread)).toBeGreaterThan(1)
    expect(spread[survivor.name], JSON.stringify(spread)).toBeGreaterThan(0)
    await annotate(`clients per node before the kill: ${JSON.stringify(spread)}`)
    await clusterCycle({
      sandbox,
      op,
      redis,
      devices: DEVICES,
      kill: () => sandbox.crashBrokerNode(victim),
      moved: async () => {
        // Every device and the controller are now on the survivor.
        await waitFor(async () => (await clientsOn(survivor)) >= DEVICES + 1, {
          timeoutMs: 60_000,
          what: `${DEVICES} devices and the controller on ${survivor.name}`,
        }).catch(async (err: unknown) => {
          throw new Error(`${String(err)}; ${survivor.name} holds ${await clientsOn(survivor)} clients`)
        })
      },
      say: (line) => void annotate(line),
    })
  }, 600_000)
})
