import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Command } from 'commander'
import * as z from 'zod'
import { CliError, EXIT } from '../cli/client.js'
import type { Context } from '../cli/context.js'
import { parseDurationMs, table } from '../cli/output.js'
import { BaselineSchema } from '../rules/thresholds.js'

interface CohortRow {
  cohort: string
  windows: number
  devices: number
  inferenceRate: number | null
  errorRate: number | null
  latencyP50Ms: number | null
  latencyP95Ms: number | null
  latencyP99Ms: number | null
  powerMw: number | null
  temperatureMaxC: number | null
  memoryMax: number | null
}
interface RolloutRow {
  id: string
  state: string
  target: string | null
  step: number
  steps: unknown[]
  model: { name: string; version: string }
  counts: { cohort: number; succeeded: number; failed: number; silent: number; pending: number }
}
interface RuleRow {
  rule: string
  outcome: string
  firing: boolean
  observed: number | null
  threshold: number | null
  sampleSize: number
}
interface EventRow {
  id: string
  at: number
  event: string
  rolloutId: string | null
  severity: string
  action?: string
  message: string
  dryRun?: boolean
}

const n = (v: number | null, digits = 2): string => (v === null ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(digits))
const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(1)}%`)

function cohortTable(rows: readonly CohortRow[], system: boolean): string {
  if (system)
    return table(
      ['COHORT', 'DEVICES', 'POWER mW', 'TEMP max °C', 'MEMORY max'],
      rows.map((r) => [r.cohort, r.devices, n(r.powerMw, 1), n(r.temperatureMaxC, 1), pct(r.memoryMax)]),
    )
  return table(
    ['COHORT', 'DEVICES', 'INF/s', 'ERRORS', 'P50 ms', 'P95 ms', 'P99 ms'],
    rows.map((r) => [
      r.cohort,
      r.devices,
      n(r.inferenceRate, 1),
      pct(r.errorRate),
      n(r.latencyP50Ms),
      n(r.latencyP95Ms),
      n(r.latencyP99Ms),
    ]),
  )
}

const FINISHED = new Set(['completed', 'aborted', 'rolled-back'])

/** The rollout named by id (whatever its state), or the active rollouts on a target selector. */
async function rolloutsFor(ctx: Context, target: string): Promise<RolloutRow[]> {
  const all = (await ctx.client().call<{ rollouts: RolloutRow[] }>('GET', '/v1/rollouts?limit=100')).rollouts
  return all.filter((r) => r.id === target || (r.target === target && !FINISHED.has(r.state)))
}

async function frame(ctx: Context, target: string, system: boolean): Promise<{ text: string; finished: boolean; data: unknown }> {
  const api = ctx.client()
  const tele = await api.call<{ cohorts: CohortRow[] }>('GET', '/v1/telemetry?spanMs=60000')
  const rollouts = await rolloutsFor(ctx, target)
  let text = `${new Date().toISOString()}  target ${target}\n${cohortTable(tele.cohorts, system)}`
  const rules: Record<string, RuleRow[]> = {}
  for (const r of rollouts) {
    const c = r.counts
    text += `\nrollout ${r.id} ${r.model.name}@${r.model.version} ${r.state} step ${r.step + 1}/${r.steps.length}: ${c.succeeded}/${c.cohort} ok, ${c.failed} failed, ${c.silent} silent, ${c.pending} pending\n`
    const states = (await api.call<{ states: { results: RuleRow[] } | null }>('GET', `/v1/rollouts/${r.id}/rules`)).states
    rules[r.id] = states?.results ?? []
    text += table(
      ['RULE', 'OUTCOME', 'FIRING', 'OBSERVED', 'LIMIT', 'SAMPLES'],
      (states?.results ?? []).map((x) => [x.rule, x.outcome, x.firing ? 'yes' : 'no', n(x.observed, 3), n(x.threshold, 3), x.sampleSize]),
    )
  }
  // Watching one rollout by id: the frame that shows it finished is the last.
  const only = rollouts.length === 1 ? rollouts[0] : undefined
  const finished = only?.id === target && FINISHED.has(only.state)
  return { text, finished, data: { at: Date.now(), cohorts: tele.cohorts, rollouts, rules } }
}

async function updateThresholds(ctx: Context, target: string, file: string): Promise<void> {
  let baseline: z.output<typeof BaselineSchema>
  try {
    const parsed = BaselineSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')))
    if (!parsed.success) throw new CliError(`--baseline ${file}: ${z.prettifyError(parsed.error)}`, EXIT.USAGE, 'CLI_BAD_FLAG')
    baseline = parsed.data
  } catch (err) {
    if (err instanceof CliError) throw err
    throw new CliError(`--baseline ${file}: ${err instanceof Error ? err.message : String(err)}`, EXIT.USAGE, 'CLI_BAD_FLAG')
  }
  const rollouts = await rolloutsFor(ctx, target)
  if (rollouts.length === 0) throw new CliError(`no active rollout for '${target}'`, EXIT.NOT_FOUND, 'ROLLOUT_NOT_FOUND')
  const out: { rollout: string; rules: unknown[] }[] = []
  for (const r of rollouts)
    out.push({ rollout: r.id, ...(await ctx.client().call<{ rules: unknown[] }>('POST', `/v1/rollouts/${r.id}/thresholds`, baseline)) })
  ctx.print(out, () => out.map((o) => `rollout ${o.rollout}: ${o.rules.length} rules updated from ${file}\n`).join(''))
}

function eventLine(e: EventRow): string {
  return `${new Date(e.at).toISOString()}  ${e.severity.padEnd(8)} ${e.event.padEnd(20)} ${e.rolloutId ?? '-'}  ${e.dryRun === true ? '[dry-run] ' : ''}${e.message}\n`
}

/** The alerts and decisions of one rollout, for `liquid-lln rollout show` (empty when there are none). */
export async function rolloutDecisions(ctx: Context, rolloutId: string): Promise<string> {
  const { events } = await ctx
    .client()
    .call<{ events: EventRow[] }>('GET', `/v1/events?limit=1000&rollout=${encodeURIComponent(rolloutId)}`)
  const mine = events.filter((e) => e.event === 'alert' || e.event === 'decision').slice(-20)
  return mine.length === 0 ? '' : `\nalerts and decisions:\n${mine.map(eventLine).join('')}`
}

/** `liquid-lln monitor` and `liquid-lln events`. */
export function registerMonitorCommands(program: Command, ctx: Context): void {
  program
    .command('monitor')
    .description('live view of cohort metrics, rule states and rollout progress')
    .requiredOption('--target <selector|rollout>', 'a rollout id (stops when it finishes) or the target selector of active rollouts')
    .option('--duration <seconds>', 'stop after this many seconds', '300')
    .option('--interval <duration>', 'refresh period', '2s')
    .option('--metric <kind>', "'inference' (default) or 'system' (power, temperature, memory)", 'inference')
    .option('--update-thresholds', "set the rollouts' rule thresholds from --baseline and exit")
    .option('--baseline <file>', 'recorded baseline JSON: {latencyMs, energyMw, errorRate, memoryUsed}')
    .action(
      async (o: { target: string; duration: string; interval: string; metric: string; updateThresholds?: boolean; baseline?: string }) => {
        if (o.updateThresholds === true) {
          if (o.baseline === undefined) throw new CliError('--update-thresholds needs --baseline <file>', EXIT.USAGE, 'CLI_BAD_FLAG')
          return updateThresholds(ctx, o.target, o.baseline)
        }
        if (o.metric !== 'inference' && o.metric !== 'system')
          throw new CliError(`--metric: '${o.metric}' is not inference or system`, EXIT.USAGE, 'CLI_BAD_FLAG')
        const seconds = Number(o.duration)
        if (!Number.isFinite(seconds) || seconds <= 0)
          throw new CliError(`--duration: '${o.duration}' is not a number of seconds`, EXIT.USAGE, 'CLI_BAD_FLAG')
        const every = parseDurationMs(o.interval, '--interval')
        const end = Date.now() + seconds * 1000
        for (;;) {
          const f = await frame(ctx, o.target, o.metric === 'system')
          if (ctx.json) ctx.io.stdout(`${JSON.stringify(f.data)}\n`)
          else ctx.io.stdout(ctx.io.isTTY ? `\x1b[2J\x1b[H${f.text}` : `${f.text}\n`)
          if (f.finished || Date.now() + every > end) return
          await sleep(every)
        }
      },
    )
  program
    .command('events')
    .description('alerts, decisions and rollout events from the audit stream')
    .option('--follow', 'keep printing new events')
    .option('--rollout <id>', 'only this rollout')
    .option('--limit <n>', 'at most this many (without --follow)', '100')
    .action(async (o: { follow?: boolean; rollout?: string; limit: string }) => {
      let after: string | null = null
      const q = (): string =>
        `/v1/events?limit=${o.follow === true ? 1000 : Number(o.limit)}${o.rollout === undefined ? '' : `&rollout=${o.rollout}`}${after === null ? '' : `&after=${after}`}`
      for (;;) {
        const page = await ctx.client().call<{ events: EventRow[]; last: string | null }>('GET', q())
        for (const e of page.events) {
          ctx.io.stdout(ctx.json ? `${JSON.stringify(e)}\n` : eventLine(e))
        }
        after = page.last ?? after
        if (o.follow !== true) return
        await sleep(1000)
      }
    })
}
