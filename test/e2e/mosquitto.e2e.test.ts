/**
 * The core rollout cycle once more with the machine's Mosquitto as the broker: the controller and
 * the agents speak plain MQTT 3.1.1 through @liquid-edge/protocol, so a third-party broker works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MOSQUITTO_URL, uniquePrefix, uniqueRoot } from '@liquid-edge/test/harness'
import { MODEL, startScenario, type Scenario } from './operator.js'

let scenario: Scenario
const lln = (args: string[]) => scenario.op.lln(args)
const versions = async () => Object.values(await scenario.op.versions())

beforeAll(async () => {
  scenario = await startScenario('mosquitto', {
    externalBroker: { url: MOSQUITTO_URL, root: uniqueRoot() },
    // Device ids of their own: Mosquitto is shared by every test on this machine.
    fleet: [{ idPrefix: `mq-${uniquePrefix('d').slice(2, 8)}`, count: 4, profile: 'x86-edge', labels: { env: 'staging', hw: 'x86-edge' } }],
  })
}, 240_000)

afterAll(() => scenario.close(), 60_000)

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
    expect(first.code, first.stdout + first.stderr).toBe(0)
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
    expect(rolling.code, rolling.stdout + rolling.stderr).toBe(0)
    expect(await versions()).toEqual(Array(4).fill(`${MODEL}@1.1.0`))
    const back = await lln(['rollback', '--target', 'env=staging', '--to-previous', '--wait', '--timeout', '3m'])
    expect(back.code, back.stdout + back.stderr).toBe(0)
    expect(await versions()).toEqual(Array(4).fill(`${MODEL}@1.0.0`))
  }, 480_000)
})
