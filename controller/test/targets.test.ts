import { describe, expect, it } from 'vitest'
import { knownNames, resolveTarget, type GroupRecord } from '../src/registry/targets.js'
import { startFakeDevices, waitFor } from '@liquid-edge/test/harness'
import { setupFleet, testEnv } from './helpers.js'

const devices = [
  { id: 'stm-1', labels: { env: 'staging', hw: 'stm32h743' } },
  { id: 'edge-1', labels: { env: 'production', hw: 'x86-edge', slot: 'green' } },
  { id: 'odd-1', labels: { env: 'green', canary: 'yes' } },
]
const group = (name: string, selector: string): GroupRecord => ({ name, selector, colour: null, createdAt: 0 })
const known = knownNames(devices, [group('production', 'env=production'), group('simulation', ''), group('stm32h743', 'env=staging')])

describe('target grammar', () => {
  it('a bare word is a group, then a device id, then a label value found under one key', () => {
    expect(resolveTarget('production', known, true)).toMatchObject({ selector: 'env=production', group: { name: 'production' } })
    expect(resolveTarget('simulation', known, true)).toMatchObject({ selector: '' })
    expect(resolveTarget('stm32h743', known, true).selector).toBe('env=staging') // the group wins over the hw value
    expect(resolveTarget('edge-1', known, true)).toMatchObject({ deviceId: 'edge-1', selector: '' })
    expect(resolveTarget('x86-edge', known, true).selector).toBe('hw=x86-edge')
    expect(resolveTarget('canary', known, true).selector).toBe('canary') // a label key: devices that carry it
  })

  it('words inside a selector are read the same way, and a selector stays a selector', () => {
    expect(resolveTarget('production,slot=green', known, true).selector).toBe('env=production,slot=green')
    expect(resolveTarget('x86-edge,!staging', known, true).selector).toBe('hw=x86-edge,env!=staging')
    expect(resolveTarget('hw in (stm32h743,x86-edge)', known, true).selector).toBe('hw in (stm32h743,x86-edge)')
  })

  it('refuses an ambiguous word with its candidates, and an unknown word when strict', () => {
    expect(() => resolveTarget('green', known, true)).toThrow(/'green' is ambiguous.*env=green, slot=green/)
    expect(() => resolveTarget('nowhere', known, true)).toThrow(/names nothing: no a group, then a device id/)
    expect(resolveTarget('nowhere', known, false).selector).toBe('nowhere')
    expect(() => resolveTarget('env=(x', known, true)).toThrow(/invalid selector/)
  })
})

describe('deploy by target', () => {
  it('deploying the same model to the same target with a larger subset extends the running rollout; another model conflicts', async () => {
    await using env = await testEnv()
    const c = await env.start()
    const { ids, v1 } = await setupFleet(c, env, 8)
    await using devices = await startFakeDevices({ url: env.broker.url, root: env.root, initialModel: v1 }, ids)
    await c.registry.saveGroup({ name: 'fleet', selector: 'env=staging' })
    const first = await c.rollouts.deploy({
      model: { name: 'kws', version: '2.0.0' },
      target: 'fleet',
      steps: [{ percent: 25 }],
      bakeMs: 60_000,
    })
    expect(first.target).toBe('env=staging')
    const again = await c.rollouts.deploy({ model: { name: 'kws', version: '2.0.0' }, target: 'staging', steps: [{ percent: 100 }] })
    expect(again.id).toBe(first.id)
    expect(again.steps).toEqual([{ percent: 25 }, { percent: 100 }])
    await expect(c.rollouts.deploy({ model: { name: 'kws', version: '1.0.0' }, target: 'fleet' })).rejects.toMatchObject({
      code: 'ROLLOUT_CONFLICT',
    })
    // The 25% step bakes for a minute: skip it once it began, then the same rollout takes the rest.
    await waitFor(async () => {
      await c.rollouts.promote(first.id).catch(() => undefined)
      return (await c.repo.get(first.id)).step === 1
    })
    await waitFor(() => devices.every((d) => d.active?.version === '2.0.0'), { what: 'every device on 2.0.0' })
  })
})
