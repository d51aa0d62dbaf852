import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTopics, deviceMessage, encode } from '@liquid-edge/protocol'
import { connectClient, waitFor } from '@liquid-edge/test/harness'
import { testEnv, type Env } from './helpers.js'
import type { Controller } from '../src/index.js'

let env: Env
let c: Controller

beforeAll(async () => {
  env = await testEnv()
  c = await env.start()
})
afterAll(async () => {
  await env.close()
})

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${c.url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith(`${name} `))
  return Number(line?.split(' ')[1] ?? 'NaN')
}

/** Publish statuses of `id` in order, then wait until the last one has been folded (or dropped). */
async function statuses(id: string, list: { online: boolean; session: number; ts: number; gateway?: string }[]): Promise<void> {
  const t = createTopics(env.root)
  await using device = await connectClient(env.broker.url, { clientId: `${id}-pub` })
  for (const s of list) {
    const body = { online: s.online, session: s.session, ...(s.gateway === undefined ? {} : { gateway: s.gateway }) }
    const msg = deviceMessage('status', id, body, { ts: s.ts })
    await device.publishAsync(t.status(id), Buffer.from(encode(msg)), { qos: 1, retain: true })
  }
}

/** The device's reported state, published as the device does right after its online status. */
async function reported(id: string, ts = Date.now()): Promise<void> {
  const t = createTopics(env.root)
  await using device = await connectClient(env.broker.url, { clientId: `${id}-rep` })
  const body = { generation: 0, rolloutId: null, phase: 'idle' as const, slots: [], agentVersion: 'fake-1', hardware: 'fake-hw' }
  await device.publishAsync(t.reported(id), Buffer.from(encode(deviceMessage('reported', id, body, { ts }))), { qos: 1, retain: true })
}

async function view(id: string) {
  return (await c.live.views([id]))[0]?.status ?? null
}

describe('device status: the session rule', () => {
  it('drops a late Last Will of an older session and an online after the offline of the same session', async () => {
    const id = `dev-order-${Date.now()}`
    const now = Date.now()
    const stale = await metric('lln_device_status_stale_total')
    await statuses(id, [
      { online: true, session: 3, ts: now },
      { online: false, session: 2, ts: now - 5000 },
    ])
    await waitFor(async () => (await metric('lln_device_status_stale_total')) === stale + 1, { what: 'the stale will counted' })
    expect(await view(id)).toMatchObject({ online: true, session: 3 })
    await statuses(id, [
      { online: false, session: 3, ts: now + 10 },
      { online: true, session: 3, ts: now + 20 },
    ])
    await waitFor(async () => (await metric('lln_device_status_stale_total')) === stale + 2, { what: 'the late online counted' })
    expect(await view(id)).toMatchObject({ online: false, session: 3 })
  })

  it('holds a lower session until the device shows another sign of life, then accepts it (it lost its counter) and counts it', async () => {
    const id = `dev-reset-${Date.now()}`
    const now = Date.now()
    const regressions = await metric('lln_device_session_regressions_total')
    const held = await metric('lln_device_status_held_total')
    await statuses(id, [
      { online: true, session: 50, ts: now - 60_000 },
      { online: false, session: 50, ts: now - 59_000 },
      { online: true, session: 1, ts: now },
    ])
    await waitFor(async () => (await metric('lln_device_status_held_total')) === held + 1, { what: 'the lower session held' })
    expect(await view(id)).toMatchObject({ online: false, session: 50 })
    await reported(id)
    await waitFor(async () => (await view(id))?.session === 1, { what: 'the device online on session 1' })
    expect(await view(id)).toMatchObject({ online: true, session: 1 })
    expect(await metric('lln_device_session_regressions_total')).toBe(regressions + 1)
    // The old numbering's Last Will, delivered late, is older than the reset: it must not take the device offline.
    await statuses(id, [
      { online: false, session: 50, ts: now - 60_000 },
      { online: true, session: 2, ts: now + 1000 },
    ])
    await waitFor(async () => (await view(id))?.session === 2, { what: 'session 2' })
    expect(await view(id)).toMatchObject({ online: true, session: 2 })
  })

  it('never applies a lower session the device does not confirm (a forged status)', async () => {
    const id = `dev-forged-${Date.now()}`
    const now = Date.now()
    const held = await metric('lln_device_status_held_total')
    const regressions = await metric('lln_device_session_regressions_total')
    await statuses(id, [
      { online: true, session: 9, ts: now - 1000 },
      { online: false, session: 9, ts: now - 500 },
      // stamped an hour ahead, so that every later status of the device would look older
      { online: true, session: 1, ts: now + 3_600_000 },
    ])
    await waitFor(async () => (await metric('lln_device_status_held_total')) === held + 1, { what: 'the lower session held' })
    // Another device's report confirms nothing here, nor does this device's own, stamped before it.
    await reported(`${id}-other`)
    await reported(id, now + 5)
    await statuses(id, [{ online: true, session: 10, ts: now + 10 }])
    await waitFor(async () => (await view(id))?.session === 10, { what: 'session 10' })
    // Session 10 superseded the held status: a later report does not bring it back.
    await reported(id, now + 3_600_001)
    await waitFor(async () => (await c.live.views([id]))[0]?.reported?.ts === now + 3_600_001, { what: 'the late report folded in' })
    expect(await metric('lln_device_session_regressions_total')).toBe(regressions)
    expect(await view(id)).toMatchObject({ online: true, session: 10, epoch: 0 })
  })

  it('keeps dropping a lower session stamped before the last status (a replayed old online)', async () => {
    const id = `dev-replay-${Date.now()}`
    const now = Date.now()
    const before = await metric('lln_device_session_regressions_total')
    await statuses(id, [
      { online: true, session: 7, ts: now },
      { online: true, session: 6, ts: now - 1000 },
      { online: true, session: 8, ts: now + 1000 },
    ])
    await waitFor(async () => (await view(id))?.session === 8, { what: 'session 8' })
    expect(await metric('lln_device_session_regressions_total')).toBe(before)
  })

  it("shows a child offline once its gateway's Last Will arrives, and online again when the gateway re-announces it", async () => {
    const [gw, child] = [`gw-${Date.now()}`, `mcu-${Date.now()}`]
    const connectedAt = Date.now()
    await statuses(gw, [{ online: true, session: 4, ts: connectedAt }])
    await statuses(child, [{ online: true, session: 9, ts: connectedAt + 5, gateway: gw }])
    await waitFor(async () => (await view(child))?.online === true, { what: 'the child online' })
    // The will was built at connect, before the child's status: its arrival is what counts.
    await statuses(gw, [{ online: false, session: 4, ts: connectedAt - 1 }])
    await waitFor(async () => (await view(child))?.online === false, { what: 'the child offline with its gateway' })
    await statuses(gw, [{ online: true, session: 5, ts: Date.now() }])
    await statuses(child, [{ online: true, session: 10, ts: Date.now(), gateway: gw }])
    await waitFor(async () => (await view(child))?.online === true, { what: 'the child back' })
  })
})
