/**
 * What an operator does in the e2e scenarios, through the real `liquid-lln` and the simulated
 * fleets' fault endpoints, with every answer validated.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as z from 'zod'
import { REDIS_URL, uniquePrefix, waitFor } from '@liquid-edge/test/harness'
import { apiGet, listDevices, waitForFleet } from '../sandbox/fleet.js'
import { run, type RunResult } from '../sandbox/processes.js'
import { startSandbox, type Sandbox, type SandboxOptions } from '../sandbox/sandbox.js'

export const MODEL = 'cfc-sense'

const RolloutSchema = z.looseObject({
  id: z.string(),
  state: z.string(),
  step: z.number(),
  counts: z.looseObject({ cohort: z.number(), succeeded: z.number(), failed: z.number(), silent: z.number() }),
})
export type RolloutView = z.infer<typeof RolloutSchema>
const RolloutListSchema = z.looseObject({ rollouts: z.array(z.looseObject({ id: z.string(), state: z.string() })) })
const EventSchema = z.looseObject({
  event: z.string(),
  action: z.string().optional(),
  evidence: z.looseObject({ rule: z.string(), devices: z.array(z.string()), sampleSize: z.number() }).optional(),
})
export type AuditEvent = z.infer<typeof EventSchema>
const RuleStateSchema = z.looseObject({ rule: z.string(), outcome: z.string(), firing: z.boolean(), devices: z.array(z.string()) })
export type RuleState = z.infer<typeof RuleStateSchema>
const RuleStatesSchema = z.looseObject({ states: z.looseObject({ results: z.array(RuleStateSchema) }).nullable() })

export interface Operator {
  lln(args: string[], timeoutMs?: number): Promise<RunResult>
  /** `liquid-lln --json deploy …` without waiting: the new rollout. */
  deploy(args: string[]): Promise<RolloutView>
  rollout(id: string): Promise<RolloutView>
  /** Wait until the rollout's first step has every device of its cohort on the model. */
  firstStepSucceeded(id: string): Promise<void>
  /**
   * A canary held on its first step: deploy `model` to `target` in steps of 50% and 100% with a long
   * bake (`extra` adds flags), and wait until the first step succeeded, so that rules judge its cohort.
   */
  canary(target: string, model: string, extra?: string[]): Promise<RolloutView>
  /** The active model of every device, by id. */
  versions(): Promise<Record<string, string | null>>
  /** `liquid-lln --json events --rollout <id>`: one JSON event per line. */
  events(id: string): Promise<AuditEvent[]>
  /** The latest judgement of every rule of a rollout (`GET /v1/rollouts/:id/rules`). */
  rules(id: string): Promise<RuleState[]>
  /** Wait until no rollout is active (each completed, aborted or rolled back). */
  settled(): Promise<void>
  /** Set faults on every simulated fleet (`DELETE` them with `null`). */
  faults(set: Record<string, unknown> | null, selection?: Record<string, unknown>): Promise<void>
}

export function operator(sandbox: Sandbox): Operator {
  const lln = (args: string[], timeoutMs = 180_000) => run('liquid-lln', args, { env: sandbox.cliEnv, timeoutMs })
  const json = async (args: string[]): Promise<unknown> => {
    const r = await lln(['--json', ...args])
    if (r.code !== 0) throw new Error(`liquid-lln ${args.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`)
    return JSON.parse(r.stdout)
  }
  const rollout = async (id: string) => RolloutSchema.parse(await json(['rollout', 'show', id]))
  return {
    lln,
    deploy: async (args) => RolloutSchema.parse(await json(['deploy', '--no-wait', ...args])),
    rollout,
    async canary(target, model, extra = []) {
      const r = await this.deploy(['--target', target, '--model', model, '--steps', '50,100', '--bake', '10m', '--trial', '2s', ...extra])
      await this.firstStepSucceeded(r.id)
      return r
    },
    async firstStepSucceeded(id) {
      let last: RolloutView | null = null
      await waitFor(
        async () => {
          last = await rollout(id)
          return last.counts.cohort > 0 && last.counts.succeeded >= last.counts.cohort
        },
        { timeoutMs: 120_000, what: 'the first step to succeed' },
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}; rollout: ${JSON.stringify(last)}`)
      })
    },
    async rules(id) {
      return (await apiGet(sandbox, `/v1/rollouts/${encodeURIComponent(id)}/rules`, RuleStatesSchema)).states?.results ?? []
    },
    async settled() {
      const finished = new Set(['completed', 'aborted', 'rolled-back'])
      await waitFor(async () => (await apiGet(sandbox, '/v1/rollouts', RolloutListSchema)).rollouts.every((r) => finished.has(r.state)), {
        timeoutMs: 120_000,
        what: 'every rollout to finish',
      })
    },
    async versions() {
      return Object.fromEntries((await listDevices(sandbox)).map((d) => [d.id, d.active]))
    },
    async events(id) {
      const r = await lln(['--json', 'events', '--rollout', id])
      if (r.code !== 0) throw new Error(`liquid-lln events exited ${r.code}: ${r.stderr}`)
      return r.stdout
        .split('\n')
        .filter((line) => line.trim() !== '')
        .map((line) => EventSchema.parse(JSON.parse(line)))
    },
    async faults(set, selection = { percent: 100 }) {
      for (const url of Object.values(sandbox.control)) {
        const res = await fetch(
          `${url}/faults`,
          set === null ? { method: 'DELETE' } : { method: 'POST', body: JSON.stringify({ ...selection, set }) },
        )
        if (!res.ok) throw new Error(`${url}/faults: HTTP ${res.status} ${await res.text()}`)
      }
    },
  }
}

export interface Scenario {
  sandbox: Sandbox
  op: Operator
  /** Stop every process; the directory stays with `LLN_E2E_KEEP=1`. */
  close(): Promise<void>
}

/** Rules an e2e test can wait for: half-second telemetry windows and evaluations, rule time 20× faster. */
export const FAST_RULES = { telemetryWindowMs: 500, rulesTimeScale: 0.05, rulesEvalMs: 500 } as const

/**
 * A sandbox of its own for one e2e file, in a fresh temporary directory with its own Redis
 * prefix (on the machine's Redis unless `redisUrl` names another), up once all its devices report.
 */
export async function startScenario(
  name: string,
  options: Omit<SandboxOptions, 'redisUrl' | 'dir' | 'prefix'> & { redisUrl?: string },
): Promise<Scenario> {
  const dir = mkdtempSync(join(tmpdir(), `lln-e2e-${name}-`))
  const sandbox = await startSandbox({ redisUrl: REDIS_URL, dir, prefix: uniquePrefix(`e2e-${name}`), ...options })
  const close = async (): Promise<void> => {
    await sandbox.close()
    if (process.env.LLN_E2E_KEEP === undefined) rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitForFleet(
      sandbox,
      options.fleet.reduce((n, g) => n + g.count, 0),
      () => undefined,
    )
  } catch (err) {
    await close()
    throw err
  }
  return { sandbox, op: operator(sandbox), close }
}
