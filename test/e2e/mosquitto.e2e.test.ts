/**
 * The core rollout cycle once more with the machine's Mosquitto as the broker: the controller and
 * the agents speak plain MQTT 3.1.1 through @liquid-edge/protocol, so a third-party broker works.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { REDIS_URL, uniquePrefix, uniqueRoot } from '@liquid-edge/test/harness'
import { listDevices, waitForFleet } from '../sandbox/fleet.js'
import { run } from '../sandbox/processes.js'
import { startSandbox, type Sandbox } from '../sandbox/sandbox.js'

const MOSQUITTO = process.env.LLN_MOSQUITTO_URL ?? 'mqtt://127.0.0.1:1883'
const MODEL = 'cfc-sense'
let sandbox: Sandbox
let dir: string
const lln = (args: string[]) => run('liquid-lln', args, { env: sandbox.cliEnv, timeoutMs: 180_000 })
const versions = async () => (await listDevices(sandbox)).map((d) => d.active)

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lln-e2e-mosquitto-'))
  sandbox = await startSandbox({
    redisUrl: REDIS_URL,
    dir,
    prefix: uniquePrefix('e2e-mq'),
    externalBroker: { url: MOSQUITTO, root: uniqueRoot() },
    fleet: [{ idPrefix: `mq-${uniquePrefix('d').slice(2, 8)}`, count: 4, profile: 'x86-edge', labels: { env: 'staging', hw: 'x86-edge' } }],
  })
  await waitForFleet(sandbox, 4, () => undefined)
}, 240_000)

afterAll(async () => {
  await sandbox.close()
  rmSync(dir, { recursive: true, force: true })
}, 60_000)

describe('the core cycle through Mosquitto', () => {
  it('installs, rolls out in steps and rolls back', async () => {
    const first = await lln([
      'deploy',
      '--target',
      'env=staging',
      '--model',
      `${MODEL}@1.0.0`,
      '--strategy',
      'all',
      '--trial',
      '2s',
      '--wait',
      '--timeout',
      '3m',
    ])
    expect(first.code, first.stderr).toBe(0)
    expect(await versions()).toEqual(Array(4).fill(`${MODEL}@1.0.0`))
    const rolling = await lln([
      'deploy',
      '--target',
      'env=staging',
      '--model',
      `${MODEL}@1.1.0`,
      '--steps',
      '50,100',
      '--bake',
      '2s',
      '--trial',
      '2s',
      '--wait',
      '--timeout',
      '3m',
    ])
    expect(rolling.code, rolling.stderr).toBe(0)
    expect(await versions()).toEqual(Array(4).fill(`${MODEL}@1.1.0`))
    const back = await lln(['rollback', '--target', 'env=staging', '--to-previous', '--wait', '--timeout', '3m'])
    expect(back.code, back.stderr).toBe(0)
    expect(await versions()).toEqual(Array(4).fill(`${MODEL}@1.0.0`))
  }, 480_000)
})
