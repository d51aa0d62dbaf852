import { describe, expect, it } from 'vitest'
import { freePort, startFakeDevices, startTcpProxy, waitFor } from '@liquid-edge/test/harness'
import { loadConfig } from '../src/index.js'
import { setupFleet, testEnv, waitForState } from './helpers.js'

describe('the controller on a list of broker nodes', () => {
  it('starts past a dead node and, when its node goes away, goes on through the next', { timeout: 120_000 }, async () => {
    await using env = await testEnv()
    const port = Number(new URL(env.broker.url).port)
    // Two relays to one broker stand for two nodes of a cluster; the first node of the list is down.
    await using a = await startTcpProxy(port)
    await using b = await startTcpProxy(port)
    const dead = `mqtt://127.0.0.1:${await freePort()}`
    const c = await env.start('ctl-list', { mqttUrl: `${dead},${a.url},${b.url}` })
    const { ids, v1 } = await setupFleet(c, env, 2)
    const devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids)
    try {
      const r = await c.rollouts.deploy({ model: { name: 'kws', version: '2.0.0' }, target: 'env=staging', strategy: 'all' })
      await waitForState(c, r.id, 'completed')
      a.cut()
      const back = await c.rollouts.rollback({ rolloutId: r.id, toPrevious: true })
      await waitForState(c, back.rollout?.id ?? '', 'completed', 30_000)
      await waitFor(() => devices.every((d) => d.active?.sha256 === v1.sha256), { what: 'every device back on 1.0.0' })
    } finally {
      await Promise.all(devices.map((d) => d.stop()))
    }
  })

  it('refuses a broker setting that is not a list of MQTT URLs', () => {
    expect(loadConfig({ LLN_MQTT_URL: 'mqtt://a:1883, mqtt://b:1883' }).mqttUrl).toBe('mqtt://a:1883, mqtt://b:1883')
    expect(() => loadConfig({ LLN_MQTT_URL: 'mqtt://a:1883,http://b' })).toThrow(/LLN_MQTT_URL/)
    expect(() => loadConfig({ LLN_MQTT_URL: ',' })).toThrow(/LLN_MQTT_URL/)
  })
})
