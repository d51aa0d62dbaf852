/** A long benchmark is a BullMQ job on the controller: started, followed, cancelled on the devices, its report kept in Redis. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ReplyBody } from '@liquid-edge/protocol'
import { startAgentFleet, waitFor, type AgentFleet } from '@liquid-edge/test/harness'
import type { Controller } from '../src/index.js'
import { api, testEnv, type Env } from './helpers.js'

interface Job {
  id: string
  state: string
  progress: { measuring: number; samples: number } | null
  report: { verdict: string; reasons: { code: string }[]; baseline?: { groups: unknown[] } } | null
}

let env: Env
let controller: Controller
let fleet: AgentFleet
const ids = ['job-1', 'job-2', 'job-3']
/** Every answer each device sent, as it sent it. */
const replies = new Map<string, ReplyBody[]>()

beforeAll(async () => {
  env = await testEnv()
  controller = await env.start()
  await controller.registry.addMany(ids.map((id) => ({ id, labels: { env: 'jobs', hw: 'rpi4' } })))
  fleet = await startAgentFleet({
    url: env.broker.url,
    root: env.root,
    privateKey: env.publisher.privateKey,
    publicKeyPem: env.publisher.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    devices: ids.map((id) => ({ id, hardware: 'rpi4', faults: { energyMj: 0.002 } })),
    package: { name: 'jobs', version: '1.0.0' },
  })
  await controller.models.push(fleet.pkg.bytes)
  for (const [id, agent] of fleet.agents) agent.on('commandAnswered', (body) => replies.set(id, [...(replies.get(id) ?? []), body]))
}, 60_000)

afterAll(async () => {
  await fleet.close()
  await env.close()
})

const job = async (id: string): Promise<Job> => (await api(controller)<Job>('GET', `/v1/runbook/jobs/${id}`)).body

describe('benchmark jobs', () => {
  it('runs a benchmark as a job, reports progress while it runs and keeps its report', async () => {
    const started = await api(controller)<Job>('POST', '/v1/runbook/benchmark/jobs', { target: 'env=jobs', durationMs: 2500 })
    expect(started.status).toBe(202)
    await waitFor(async () => ((await job(started.body.id)).progress?.measuring ?? 0) === ids.length, {
      timeoutMs: 10_000,
      what: 'partial results from every device',
    })
    const finished = await waitFor(async () => {
      const j = await job(started.body.id)
      return j.state === 'completed' ? j : null
    })
    expect(finished.report).toMatchObject({ verdict: 'pass', baseline: { groups: [expect.objectContaining({ devices: 3 })] } })
    const list = await api(controller)<{ jobs: { id: string }[] }>('GET', '/v1/runbook/jobs')
    expect(list.body.jobs.map((j) => j.id)).toContain(started.body.id)
  })

  it('cancels a running benchmark on the devices, which answer at once and measure no more', async () => {
    const started = await api(controller)<Job>('POST', '/v1/runbook/benchmark/jobs', { target: 'env=jobs', durationMs: 3_600_000 })
    await waitFor(async () => ((await job(started.body.id)).progress?.measuring ?? 0) === ids.length, { timeoutMs: 10_000 })
    const cancelled = await api(controller)<Job>('DELETE', `/v1/runbook/jobs/${started.body.id}`)
    expect(cancelled.status).toBe(200)
    const ended = await waitFor(
      async () => {
        const j = await job(started.body.id)
        return j.state === 'cancelled' && j.report !== null ? j : null
      },
      { timeoutMs: 5000, what: 'the job to end cancelled' },
    )
    expect(ended.report?.reasons.map((r) => r.code)).toContain('VERDICT_CANCELLED')
    // Every device stopped measuring: its profile ended with AGENT_CANCELLED, and a ping is answered at once.
    await waitFor(
      () =>
        ids.every((id) =>
          (replies.get(id) ?? []).some((r) => !r.ok && r.error.code === 'AGENT_CANCELLED' && r.commandId.startsWith('rb-')),
        ),
      { timeoutMs: 3000, what: 'AGENT_CANCELLED from every device' },
    )
    const ping = await api(controller)<{ answered: number }>('POST', '/v1/runbook/status', {
      target: 'env=jobs',
      metric: 'slots',
      timeoutMs: 2000,
    })
    expect(ping.body.answered).toBe(ids.length)
  })

  it('says which job it does not know', async () => {
    const res = await api(controller)<{ error: { code: string } }>('GET', '/v1/runbook/jobs/no-such-job')
    expect(res.status).toBe(404)
    expect(res.body.error.code).toBe('RUNBOOK_JOB_NOT_FOUND')
  })
})
