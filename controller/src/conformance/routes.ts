import * as z from 'zod'
import { DeviceIdSchema } from '@liquid-edge/protocol'
import { streamLines, wantsLines } from '../api/ndjson.js'
import { route, type RouteDef } from '../api/route.js'
import { conformanceChecks, type ConformanceOptions } from './engine.js'
import { ConformanceReportSchema, type CheckResult, type ConformanceLine, type ConformanceReport, type OperatorAction } from './report.js'

export const ConformanceRequestSchema = z.strictObject({
  device: DeviceIdSchema,
  /** Two `name@version` the device can run; picked from the store when omitted. */
  models: z.array(z.string().max(200)).max(2).optional(),
  /** Check ids to leave out, or `offline`. */
  skip: z.array(z.string().max(64)).max(64).default([]),
  trialMs: z.number().int().min(0).max(600_000).default(3000),
  stepTimeoutMs: z.number().int().min(1000).max(600_000).default(30_000),
  offlineTimeoutMs: z.number().int().min(1000).max(3_600_000).default(120_000),
})

type Run = (o: ConformanceOptions) => Promise<ConformanceReport>

/**
 * `POST /v1/conformance`: drive a device through the contract. The answer is the report; with
 * `Accept: application/x-ndjson` it streams a `check` line per check, an `action` line when the
 * operator must take the device offline or back, then the `report` (or an `error`).
 */
export function conformanceRoutes(run: Run): RouteDef[] {
  return [
    route({
      method: 'GET',
      url: '/v1/conformance/checks',
      summary: 'The conformance kit checks, in order, with the contract clause each comes from',
      scope: 'read',
      handler: () => Promise.resolve({ checks: conformanceChecks() }),
    }),
    route({
      method: 'POST',
      url: '/v1/conformance',
      summary: 'Check a device against the device contract (moves it between two models and back)',
      scope: 'operate',
      body: ConformanceRequestSchema,
      response: ConformanceReportSchema,
      handler: async ({ body, raw, reply }) => {
        const req = body
        const options: ConformanceOptions = {
          deviceId: req.device,
          skip: req.skip,
          trialMs: req.trialMs,
          stepTimeoutMs: req.stepTimeoutMs,
          offlineTimeoutMs: req.offlineTimeoutMs,
          ...(req.models === undefined ? {} : { models: req.models }),
        }
        if (!wantsLines(raw)) return run(options)
        return streamLines<ConformanceLine>(reply, async (write, signal) => {
          const onCheck = (check: CheckResult): void => {
            write({ type: 'check', check })
          }
          const onAction = (action: OperatorAction): void => {
            write({ type: 'action', action })
          }
          return { type: 'report', report: await run({ ...options, signal, onCheck, onAction }) }
        })
      },
    }),
  ]
}
