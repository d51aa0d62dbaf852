/**
 * Gateway mode: 8 emulated MCUs on 8 mock serial ports behind one gateway process, a real MQTT
 * broker, a real artifact server. A rollout reaches all of them with one download; an unplugged
 * MCU is reported offline while the others take the next update.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { publisherKeyPair, startArtifactServer, startTestBroker, waitFor, type ArtifactServer } from '@liquid-edge/test/harness'
import { packModel } from '@liquid-edge/devices'
import { createCodec, deviceMessage, type ModelRef, type ReportedBody } from '@liquid-edge/protocol'
import { createStm32Gateway, openMockPort, SlotState, type EmulatedPort, type Stm32Gateway } from '../src/stm32/index.js'
import { denseModel } from './stm32/model.js'
import { emulatedPort } from './stm32/setup.js'

const keys = publisherKeyPair()
let artifacts: ArtifactServer
beforeAll(async () => {
  artifacts = await startArtifactServer()
})
afterAll(async () => {
  await artifacts.close()
})

async function release(version: string, seed: number): Promise<ModelRef> {
  const model = denseModel(16, 4, seed).bytes
  const goldenInputs = [Array.from({ length: 16 }, (_, i) => i / 16)]
  const pkg = await packModel({
    model,
    name: 'dense',
    version,
    latencyThresholdMs: 20,
    goldenInputs,
    hardware: ['stm32h743'],
    privateKey: keys.privateKey,
  })
  const url = artifacts.put(`dense-${version}.liquid`, pkg.bytes)
  return { name: 'dense', version, sha256: pkg.sha256, size: pkg.bytes.byteLength, url, signature: pkg.signature }
}

interface GatewayRig extends AsyncDisposable {
  ids: string[]
  ports: EmulatedPort[]
  gateway: Stm32Gateway
  reported: Map<string, ReportedBody>
  online: Map<string, boolean>
  desired(id: string, generation: number, model: ModelRef, trialMs?: number): Promise<void>
  allAt(which: readonly string[], generation: number): () => boolean
}

/**
 * A gateway with `n` emulated MCUs behind our authenticating broker (the gateway logs in with a
 * `gateway` credential listing its children, so the broker's ACL and payload validation apply),
 * and a controller client that records what the children report.
 */
async function gatewayRig(n: number): Promise<GatewayRig> {
  const broker = await startTestBroker()
  const root = broker.root
  const codec = createCodec({ root })
  const stateDir = await mkdtemp(join(tmpdir(), 'lln-gw-'))
  const ports: EmulatedPort[] = Array.from({ length: n }, () => emulatedPort())
  const tag = root.slice(2, 10)
  const ids = ports.map((_, i) => `mcu-${tag}-${i}`)
  const gatewayId = `gw-${tag}`
  const secret = await broker.provision(gatewayId, 'gateway', ids)
  const controller = await broker.connect(`ctl-${tag}`, { role: 'controller' })
  const reported = new Map<string, ReportedBody>()
  const online = new Map<string, boolean>()
  controller.on('message', (topic, payload) => {
    if (payload.byteLength === 0) return
    const d = codec.decode(topic, payload)
    if (!d.ok) return
    const m = d.message
    if (m.type === 'reported') reported.set(m.deviceId, m.body)
    if (m.type === 'status') online.set(m.deviceId, m.body.online)
  })
  await controller.subscribeAsync(`${root}/devices/+/+`, { qos: 1 })
  const gateway = await createStm32Gateway({
    gatewayId,
    mqtt: { url: broker.url, password: secret },
    root,
    stateDir,
    publisherKeys: [keys.publicKeyPem],
    ports: ports.map((p, i) => ({ path: p.path, deviceId: ids[i]! })),
    baudRate: 921600,
    openPort: openMockPort,
    healthIntervalMs: 200,
  })
  return {
    ids,
    ports,
    gateway,
    reported,
    online,
    async desired(id, generation, model, trialMs = 200) {
      const body = { generation, rolloutId: null, model, policy: { trialMs, latencyThresholdMs: 20, minSamples: 1 } }
      await controller.publishAsync(codec.topics.desired(id), Buffer.from(codec.encode(deviceMessage('desired', id, body))), {
        qos: 1,
        retain: true,
      })
    },
    allAt: (which, generation) => () =>
      which.every((id) => reported.get(id)?.generation === generation && reported.get(id)?.phase === 'active'),
    async [Symbol.asyncDispose]() {
      await gateway.close()
      await controller.endAsync(true)
      await broker.close()
      for (const p of ports) p.close()
      await rm(stateDir, { recursive: true, force: true })
    },
  }
}

describe('STM32 gateway', () => {
  it('rolls out to 8 MCUs with one download, and reports an unplugged MCU offline while the others go on', async () => {
    await using rig = await gatewayRig(8)
    const { ids, ports, gateway, online, reported } = rig
    await waitFor(() => ids.every((id) => online.get(id) === true), { timeoutMs: 15_000, what: '8 children online' })
    const v1 = await release('1.0.0', 1)
    await Promise.all(ids.map((id) => rig.desired(id, 1, v1)))
    await waitFor(rig.allAt(ids, 1), { timeoutMs: 20_000, what: 'all 8 active on generation 1' })
    expect(artifacts.requests.filter((r) => r.path === '/dense-1.0.0.liquid')).toHaveLength(1)
    expect(gateway.fetcher.downloads).toBe(1)
    for (const p of ports) expect(p.emulator.flash.slots[p.emulator.flash.active]?.state).toBe(SlotState.READY)
    // the agent's confirmed trial is confirmed on each MCU too: a reset would keep the model
    await waitFor(() => ports.every((p) => p.emulator.flash.confirmed === p.emulator.flash.active), {
      what: 'trials confirmed on the MCUs',
    })

    const lost = ports[3]!
    lost.unplug()
    await waitFor(() => online.get(ids[3]!) === false, { timeoutMs: 10_000, what: 'the unplugged MCU reported offline' })
    expect(gateway.child(ids[3]!)?.state).toBe('offline')
    const others = ids.filter((_, i) => i !== 3)
    const v2 = await release('2.0.0', 2)
    await Promise.all(ids.map((id) => rig.desired(id, 2, v2)))
    await waitFor(rig.allAt(others, 2), { timeoutMs: 20_000, what: 'the 7 others active on generation 2' })
    expect(online.get(ids[3]!)).toBe(false)
    expect(reported.get(ids[3]!)?.generation).toBe(1)
    // plugged back in, it comes online again and converges to the state it missed
    lost.plug()
    await waitFor(rig.allAt([ids[3]!], 2), { timeoutMs: 20_000, what: 'the re-plugged MCU active on generation 2' })
    expect(online.get(ids[3]!)).toBe(true)
    expect(artifacts.requests.filter((r) => r.path === '/dense-2.0.0.liquid')).toHaveLength(1)
    // each child kept its own state: separate MCUs, separate ids
    expect(new Set(ports.map((p) => p.emulator.mcuId)).size).toBe(8)
  }, 60_000)

  it('rolls the agent back when a brown-out during a trial makes the MCU revert', async () => {
    await using rig = await gatewayRig(1)
    const id = rig.ids[0]!
    const mcu = rig.ports[0]!.emulator
    await waitFor(() => rig.online.get(id) === true, { what: 'child online' })
    await rig.desired(id, 1, await release('1.1.0', 3))
    await waitFor(rig.allAt([id], 1), { what: 'v1 active' })
    await waitFor(() => mcu.flash.confirmed === mcu.flash.active, { what: 'v1 confirmed on the MCU' })
    const v1Slot = mcu.flash.active
    await rig.desired(id, 2, await release('2.1.0', 4), 60_000)
    await waitFor(() => rig.reported.get(id)?.phase === 'trial' && mcu.flash.active !== v1Slot, { what: 'v2 in trial' })
    mcu.brownOut()
    expect(mcu.flash.active).toBe(v1Slot)
    const after = await waitFor(
      () => {
        const r = rig.reported.get(id)
        return r !== undefined && r.phase !== 'trial' ? r : null
      },
      { what: 'the agent out of its trial' },
    )
    expect(after.slots.find((s) => s.role === 'active')?.model.version).toBe('1.1.0')
    expect(mcu.flash.active).toBe(v1Slot)
  }, 30_000)
})
