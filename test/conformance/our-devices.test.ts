/**
 * The conformance kit against our own device kinds: a simulated device, an edge node on
 * onnxruntime and an STM32 behind a gateway — each a real agent on our broker, each with an
 * application calling inference (a workload a trial can be judged on), each taken offline by
 * cutting its TCP connection when the kit asks for it.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAgent, type Agent } from '@liquid-edge/agent'
import {
  Stm32Emulator,
  attachEmulator,
  createEdgeNodeDriver,
  createSimulatedDriver,
  createStm32Gateway,
  openMockPort,
} from '@liquid-edge/devices'
import { startTcpProxy, waitFor, type TcpProxy } from '@liquid-edge/test/harness'
import { kitRig, notPassedRows, type KitRig } from './rig.js'

let rig: KitRig
beforeAll(async () => {
  rig = await kitRig()
})
afterAll(async () => {
  await rig.close()
})

/** An application on the device: one inference every 50 ms on the active model, whatever it is. */
function workload(agent: () => Agent | undefined, input: Float32Array): () => void {
  const timer = setInterval(() => {
    agent()
      ?.infer(input)
      .catch(() => undefined)
  }, 50)
  return () => {
    clearInterval(timer)
  }
}

const input = (): Float32Array => Float32Array.from(rig.packages[0]?.manifest.golden[0]?.input ?? [])

async function agentOn(id: string, secret: string, proxy: TcpProxy, driver: Parameters<typeof createAgent>[0]['driver']) {
  const stateDir = await mkdtemp(join(tmpdir(), 'lln-conf-agent-'))
  const agent = await createAgent({
    deviceId: id,
    root: rig.broker.root,
    stateDir,
    driver,
    publisherKeys: [rig.publicKeyPem],
    mqtt: { url: proxy.url, password: secret, reconnectMinMs: 100, reconnectMaxMs: 500, keepaliveS: 5 },
    telemetryWindowMs: 250,
  })
  agent.on('error', () => undefined)
  return {
    agent,
    async close() {
      await agent.close()
      await rm(stateDir, { recursive: true, force: true })
    },
  }
}

/**
 * `liquid-lln conformance` as an operator runs it: exit 0, a table row per check with its clause and
 * none failed (only `evaluate` may be skipped: the demo packages carry no evaluation set on every
 * device), the verdict, progress per check and the two ACTION prompts on stderr.
 */
async function expectCliPasses(id: string, proxy: TcpProxy): Promise<string> {
  const { code, out, err } = await rig.cli(id, proxy)
  expect(
    notPassedRows(out).filter((l) => !l.startsWith('command.evaluate skip')),
    out,
  ).toEqual([])
  expect(code, `${out}\n${err}`).toBe(0)
  expect(out).toMatch(/^session\.will\s+§2\.5\s+pass\s/m)
  expect(out).toMatch(/^restore\s+§6\.5\s+pass\s/m)
  expect(out).toContain('verdict: PASS')
  const total = /\[1\/(\d+)\] ✔ session\.status §2\.6 pass/.exec(err)?.[1]
  expect(total, err).toBeDefined()
  expect(err).toContain(`[${total ?? ''}/${total ?? ''}] ✔ restore`)
  expect(err).toContain('>>> ACTION (disconnect')
  expect(err).toContain('>>> ACTION (reconnect')
  return out
}

/** A device on its own connection, through a proxy the operator (the test) cuts; asserts the kit passes it. */
async function passesKit(id: string, driver: Parameters<typeof createAgent>[0]['driver'] & { close(): Promise<void> }): Promise<void> {
  const secret = await rig.device(id)
  await using proxy = await startTcpProxy(rig.broker.port)
  const device = await agentOn(id, secret, proxy, driver)
  const stop = workload(() => device.agent, input())
  try {
    await waitFor(async () => (await rig.controller.live.views([id]))[0]?.status?.online === true, { what: 'the device online' })
    await expectCliPasses(id, proxy)
  } finally {
    stop()
    await device.close()
    await driver.close()
  }
}

describe('liquid-lln conformance: our devices pass', () => {
  it('a simulated device (stm32h743 profile, real CfC outputs) passes every check', async () => {
    await passesKit(`sim-${Date.now().toString(36)}`, await createSimulatedDriver({ profile: 'stm32h743' }))
  }, 240_000)

  it('an edge node on onnxruntime passes every check', async () => {
    await passesKit(`edge-${Date.now().toString(36)}`, await createEdgeNodeDriver({ hardware: 'x86-edge' }))
  }, 240_000)

  it('an STM32 behind a gateway passes every check; offline means its gateway offline', async () => {
    const tag = Date.now().toString(36)
    const [gatewayId, mcu] = [`gw-${tag}`, `mcu-${tag}`]
    await rig.device(mcu)
    const secret = await rig.device(gatewayId, 'gateway', [mcu])
    await using proxy = await startTcpProxy(rig.broker.port)
    const stateDir = await mkdtemp(join(tmpdir(), 'lln-conf-gw-'))
    const port = attachEmulator(`/dev/ttyCONF-${tag}`, new Stm32Emulator({ mcuId: `emu-${tag}` }))
    const gateway = await createStm32Gateway({
      gatewayId,
      mqtt: { url: proxy.url, password: secret, reconnectMinMs: 100, reconnectMaxMs: 500, keepaliveS: 5 },
      root: rig.broker.root,
      stateDir,
      publisherKeys: [rig.publicKeyPem],
      ports: [{ path: port.path, deviceId: mcu }],
      baudRate: 921600,
      openPort: openMockPort,
      healthIntervalMs: 200,
      agent: { telemetryWindowMs: 250 },
    })
    const stop = workload(() => gateway.child(mcu)?.agent, input())
    try {
      await waitFor(async () => (await rig.controller.live.views([mcu]))[0]?.status?.online === true, { what: 'the MCU online' })
      const out = await expectCliPasses(mcu, proxy)
      expect(out).toMatch(new RegExp(`^session\\.will .*\\(gateway ${gatewayId}\\)`, 'm'))
    } finally {
      stop()
      await gateway.close()
      port.close()
      await rm(stateDir, { recursive: true, force: true })
    }
  }, 240_000)
})
