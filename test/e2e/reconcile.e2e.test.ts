/**
 * Desired state is the controller's truth, with real processes: a rollback issued while the fleet
 * is offline survives a restart of the embedded broker (in-memory persistence: every retained
 * message lost), every device converges when it returns, and the rollback's result says so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { waitFor } from '@liquid-edge/test/harness'
import { listDevices } from '../sandbox/fleet.js'
import type { Sandbox } from '../sandbox/sandbox.js'
import { MODEL, startScenario, type Operator, type Scenario } from './operator.js'

const OLD = `${MODEL}@1.0.0`
const NEW = `${MODEL}@1.1.0`

let sandbox: Sandbox
let op: Operator
let scenario: Scenario
beforeAll(async () => {
  scenario = await startScenario('reconcile', {
    fleet: [{ idPrefix: 'rc', count: 3, profile: 'stm32h743', labels: { env: 'staging', hw: 'stm32h743' }, rate: 10 }],
    telemetryWindowMs: 500,
  })
  ;({ sandbox, op } = scenario)
}, 240_000)

afterAll(() => scenario.close(), 60_000)

/** The controller's counter of desired states sent again after a broker reconnect. */
async function republishedOnReconnect(): Promise<number> {
  const text = await (await fetch(`${sandbox.apiUrl}/metrics`)).text()
  return text
    .split('\n')
    .filter((l) => l.startsWith('lln_desired_republished_total{') && l.includes('trigger="reconnect"') && l.includes('kind="desired"'))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0)
}

describe('a rollback while the fleet is offline, then a broker restart', () => {
  it('reaches every device when it returns, and the rollback counts each', async () => {
    for (const model of [OLD, NEW]) {
      const r = await op.lln(['deploy', '--target', 'env=staging', '--model', model, '--strategy', 'all', '--trial', '1s', '--wait'])
      expect(r.code, r.stdout + r.stderr).toBe(0)
    }
    const deployed = await op.lln(['--json', 'rollout', 'list'])
    const id =
      (JSON.parse(deployed.stdout) as { id: string; model: { version: string } }[]).find((r) => r.model.version === '1.1.0')?.id ?? ''
    await sandbox.stopFleet('rc')
    await waitFor(async () => (await listDevices(sandbox)).every((d) => d.online === false), { what: 'the fleet offline' })
    const rb = await op.lln(['--json', 'rollback', '--rollout', id, '--to-previous', '--wait', '--timeout', '2m'])
    expect(rb.code, rb.stdout + rb.stderr).toBe(0)
    const rollbackId = (JSON.parse(rb.stdout) as { id: string }).id
    // Nobody is reachable: the rollback finished at once and lists every device as unreachable.
    expect(await op.rollout(rollbackId)).toMatchObject({ state: 'completed', counts: { cohort: 3, succeeded: 0, silent: 3 } })
    const shown = await op.lln(['rollout', 'show', rollbackId])
    expect(shown.stdout).toMatch(/3 devices unreachable \(offline\); they converge from their retained desired state when they return/)
    // The broker restarts without persistence: the rollback's retained desired states are gone.
    await sandbox.restartBroker()
    await waitFor(async () => (await republishedOnReconnect()) >= 3, { timeoutMs: 60_000, what: 'the controller to republish them' })
    sandbox.startFleet('rc')
    await waitFor(async () => Object.values(await op.versions()).every((v) => v === OLD), {
      timeoutMs: 120_000,
      what: `every device back on ${OLD}`,
    })
    await waitFor(async () => (await op.rollout(rollbackId)).counts.succeeded === 3, {
      timeoutMs: 30_000,
      what: 'the rollback to count them',
    })
    expect(await op.rollout(rollbackId)).toMatchObject({ state: 'completed', counts: { succeeded: 3, silent: 0 } })
  }, 420_000)
})
