import * as z from 'zod'
import { FleetError } from '@liquid-edge/protocol'
import { route, type RouteDef } from '../api/route.js'
import type { LiveStore } from '../registry/live.js'
import type { Registry } from '../registry/registry.js'
import { JobViewSchema, type RunbookJobs } from './jobs.js'
import { BenchmarkRequestSchema } from './requests.js'
import { resolveTarget } from './target.js'
import { CompareRequestSchema } from './verbs/benchmark.js'

const JobParams = z.object({ id: z.string().regex(/^[A-Za-z0-9:_-]{1,128}$/) })

/**
 * Long measurements as jobs: `POST /v1/runbook/{benchmark,compare}/jobs` starts one and answers at
 * once; `GET /v1/runbook/jobs/:id` follows it (progress while it runs, the report when it ends);
 * `DELETE` cancels it on the devices.
 */
export function jobRoutes(d: { jobs: RunbookJobs | null; registry: Registry; live: LiveStore }): RouteDef[] {
  const jobs = (): RunbookJobs => {
    if (d.jobs === null) throw new FleetError('CONFIG_INVALID', 'runbook jobs are not enabled on this controller')
    return d.jobs
  }
  const submit = (verb: 'benchmark' | 'compare', schema: typeof BenchmarkRequestSchema | typeof CompareRequestSchema): RouteDef =>
    route({
      method: 'POST',
      url: `/v1/runbook/${verb}/jobs`,
      summary: `Start a ${verb} as a job on the controller; follow it with GET /v1/runbook/jobs/{id}`,
      scope: 'operate',
      body: schema,
      status: 202,
      response: JobViewSchema,
      handler: async ({ body }) => {
        await resolveTarget(d.registry, d.live, body.target) // an unknown target is refused now, not in the job
        return jobs().submit(verb, body)
      },
    })
  return [
    submit('benchmark', BenchmarkRequestSchema),
    submit('compare', CompareRequestSchema),
    route({
      method: 'GET',
      url: '/v1/runbook/jobs',
      summary: 'Recent runbook jobs, newest first',
      scope: 'read',
      response: z.object({ jobs: z.array(JobViewSchema) }),
      handler: async () => ({ jobs: await jobs().list() }),
    }),
    route({
      method: 'GET',
      url: '/v1/runbook/jobs/:id',
      summary: 'A runbook job: its state, progress while it runs, its report when it ends',
      scope: 'read',
      params: JobParams,
      response: JobViewSchema,
      handler: ({ params }) => jobs().get(params.id),
    }),
    route({
      method: 'DELETE',
      url: '/v1/runbook/jobs/:id',
      summary: 'Cancel a runbook job: the devices stop measuring, the report covers what they measured',
      scope: 'operate',
      params: JobParams,
      response: JobViewSchema,
      handler: ({ params }) => jobs().cancel(params.id),
    }),
  ]
}
