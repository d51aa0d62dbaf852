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
import {
  createCodec,
  deviceMessage,
  emptyLatency,
  histogramBucket,
  latencyQuantile,
  mergeLatency,
  type CommandBody,
  type ModelRef,
  type ReplyBody,
  type ReportedBody,
  type TelemetryBody,
} from '@liquid-edge/protocol'
import { createStm32Gateway, openMockPort, SlotState, type EmulatedPort, type Stm32Gateway } from '../src/stm32/index.js'
import { outsideSamples } from '../src/stm32/gateway/own-loop.js'
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
  gatewayId: string
  ids: string[]
  ports: EmulatedPort[]
  gateway: Stm32Gateway
  reported: Map<string, ReportedBody>
  online: Map<string, boolean>
  desired(id: string, generation: number, model: ModelRef, trialMs?: number): Promise<void>
  /** Send a command to a child; resolves with its final reply. */
  command(id: string, body: CommandBody): Promise<ReplyBody>
  /** Telemetry windows each child sent, oldest first. */
  telemetry: Map<string, TelemetryBody[]>
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
  const replies: ReplyBody[] = []
  const telemetry = new Map<string, TelemetryBody[]>()
  controller.on('message', (topic, payload) => {
    if (payload.byteLength === 0) return
    const d = codec.decode(topic, payload)
    if (!d.ok) return
    const m = d.message
    if (m.type === 'reported') reported.set(m.deviceId, m.body)
    if (m.type === 'status') online.set(m.deviceId, m.body.online)
    if (m.type === 'reply') replies.push(m.body)
    if (m.type === 'telemetry') telemetry.set(m.deviceId, [...(telemetry.get(m.deviceId) ?? []), m.body])
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
    gatewayId,
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
    telemetry,
    async command(id, body) {
      const msg = deviceMessage('command', id, body)
      await controller.publishAsync(codec.topics.cmd(id), Buffer.from(codec.encode(msg)), { qos: 1 })
      return waitFor(() => replies.find((r) => r.commandId === msg.id && r.final), { what: `the reply to ${body.kind}` })
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
    // The gateway announces itself too (its Last Will is what tells readers its children are gone).
    expect(online.get(rig.gatewayId)).toBe(true)
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

  it("reports the MCU's own memory — status --metric memory and telemetry — not the gateway's process", async () => {
    await using rig = await gatewayRig(1)
    const id = rig.ids[0]!
    const mcu = rig.ports[0]!.emulator
    await waitFor(() => rig.online.get(id) === true, { what: 'child online' })
    await rig.desired(id, 1, await release('1.0.0', 5))
    await waitFor(rig.allAt([id], 1), { what: 'v1 active' })
    const ram = mcu.profile.ramBytes
    const reply = await rig.command(id, { kind: 'status', metric: 'memory', expiresAt: Date.now() + 10_000 })
    if (!reply.ok || reply.result.kind !== 'status' || reply.result.memory === undefined) throw new Error(JSON.stringify(reply))
    const memory = reply.result.memory
    expect(memory).toMatchObject({ systemTotalBytes: ram, measuredOn: 'device' })
    expect(memory.systemFreeBytes).toBeLessThan(ram)
    // The gateway's Node process alone is larger than the whole MCU.
    expect(memory.rssBytes).toBeGreaterThan(ram)
    const window = await waitFor(() => rig.telemetry.get(id)?.find((w) => w.memory !== null), { what: 'a window with memory' })
    expect(window.memory).toMatchObject({ totalBytes: ram })
    expect(window.memory?.usedBytes).toBeLessThan(ram)
  }, 30_000)

  it('folds the inferences an MCU runs on its own into its telemetry, with the same mergeable statistics', async () => {
    await using rig = await gatewayRig(1)
    const id = rig.ids[0]!
    const mcu = rig.ports[0]!.emulator
    await waitFor(() => rig.online.get(id) === true, { what: 'child online' })
    await rig.desired(id, 1, await release('1.2.0', 6))
    await waitFor(rig.allAt([id], 1), { what: 'v1 active' })
    // Its sensor loop classifies 40 samples by itself; nobody asks over the link.
    await mcu.runOwn(40)
    const micros = mcu.ram.lastMicros
    const windows = () => (rig.telemetry.get(id) ?? []).filter((w) => w.model?.version === '1.2.0')
    const attempts = () => windows().reduce((n, w) => n + w.inferences, 0)
    await waitFor(() => attempts() >= 40, { timeoutMs: 15_000, what: "the MCU's 40 inferences in its telemetry" })
    expect(attempts()).toBe(40)
    expect(windows().reduce((n, w) => n + w.errors, 0)).toBe(0)
    // Merged like any agent's windows: exact count and mean, quantiles from the log histogram.
    const merged = emptyLatency()
    for (const w of windows()) if (w.latency != null) mergeLatency(merged, w.latency)
    expect(merged.count).toBe(40)
    expect(merged.sumMs).toBeCloseTo((40 * micros) / 1000, 9)
    expect([...merged.buckets.keys()]).toEqual([histogramBucket(micros / 1000)])
    const p50 = latencyQuantile(merged, 0.5) ?? NaN
    expect(Math.abs(p50 - micros / 1000) / (micros / 1000)).toBeLessThanOrEqual(0.01)
    expect(rig.gateway.child(id)?.refusedLoopStats).toBe(0)
  }, 30_000)

  it('refuses own-loop statistics that do not add up, with the reason', () => {
    const good = {
      attempts: 3,
      errors: 1,
      sumMicros: 4000,
      minMicros: 2000,
      maxMicros: 2000,
      energyMicroJ: 10,
      bins: [histogramBucket(2)],
      counts: [2],
    }
    expect(outsideSamples(good)).toMatchObject({ ok: true, samples: { attempts: 3, errors: 1, latency: { count: 2, sumMs: 4 } } })
    expect(outsideSamples({ ...good, attempts: 0 })).toEqual({ ok: true, samples: null })
    expect(outsideSamples({ ...good, errors: 4 })).toMatchObject({ ok: false, error: '4 errors in 3 attempts' })
    // Two successes, but the histogram holds three.
    expect(outsideSamples({ ...good, counts: [3] })).toMatchObject({ ok: false })
    expect(outsideSamples({ ...good, bins: [5000] })).toMatchObject({ ok: false })
  })

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
