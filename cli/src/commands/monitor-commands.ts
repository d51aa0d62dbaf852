import { setTimeout as sleep } from 'node:timers/promises'
import type { Command } from 'commander'
import { CliError, EXIT, type ApiBody } from '../client.js'
import type { Context } from '../context.js'
import { parseDurationMs, table } from '../output.js'
import { TARGET_HELP, parsePositiveInt } from '../parse.js'
import { readBaseline } from '../files.js'
import type { RolloutInfo } from '../wait.js'

/** One cohort of a target (`GET /v1/telemetry?target=`): its devices' own figures, and how many run it now. */
interface CohortRow {
  cohort: string
  /** The target's devices that run this version now (each device counts once: the rows add up). */
  running: number
  /** The target's devices that reported into it during the span. */
  devices: number
  inferenceRate: number | null
  errorRate: number | null
  latencyAvgMs: number | null
  latencyP95Ms: number | null
  powerMw: number | null
  temperatureMaxC: number | null
  memoryMax: number | null
}
interface RuleRow {
  rule: string
  outcome: string
  firing: boolean
  observed: number | null
  threshold: number | null
  sampleSize: number
  /** The hardware class a budget rule judged (absent from older controllers). */
  hardware?: string | null
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
  /** Rollbacks, aborts, devices sent back: where each device went and why. */
  devices?: { deviceId: string; model: { name: string; version: string } | null; route: string; outcome: string; reason?: string }[]
}

const n = (v: number | null, digits = 2): string => (v === null ? '-' : Number.isInteger(v) ? String(v) : v.toFixed(digits))
const pct = (v: number | null): string => (v === null ? '-' : `${(v * 100).toFixed(1)}%`)

/** Columns marked * are the version's (every device on it): the histogram, temperature and memory are not kept per device. */
const VERSION_NOTE = "* every device on that version, not only the target's (quantiles, temperature and memory are not kept per device)\n"

function cohortTable(rows: readonly CohortRow[], system: boolean): string {
  if (system)
    return (
      table(
        ['COHORT', 'RUNNING', 'REPORTING', 'POWER mW', 'TEMP max °C*', 'MEMORY max*'],
        rows.map((r) => [r.cohort, r.running, r.devices, n(r.powerMw, 1), n(r.temperatureMaxC, 1), pct(r.memoryMax)]),
      ) + VERSION_NOTE
    )
  return (
    table(
      ['COHORT', 'RUNNING', 'REPORTING', 'INF/s', 'ERRORS', 'MEAN ms', 'P95 ms*'],
      rows.map((r) => [
        r.cohort,
        r.running,
        r.devices,
        n(r.inferenceRate, 1),
        pct(r.errorRate),
        n(r.latencyAvgMs, 3),
        n(r.latencyP95Ms, 3),
      ]),
    ) + VERSION_NOTE
  )
}

/** `8 devices: 4 on cfc-nano@1.1.0, 4 on cfc-nano@1.0.0` — every device of the target once. */
function census(rows: readonly CohortRow[]): string {
  const on = rows.filter((r) => r.running > 0)
  const total = on.reduce((a, r) => a + r.running, 0)
  return `${total} devices: ${on.map((r) => `${r.running} on ${r.cohort === 'none' ? 'no model' : r.cohort}`).join(', ') || 'none'}`
}

/** One plain line per cohort (piped output: no tables scrolling by, no redraw). */
function cohortLine(r: CohortRow, system: boolean): string {
  const head = `${r.cohort}: ${r.running} running, ${r.devices} reporting`
  if (system) return `${head}, power ${n(r.powerMw, 1)} mW, temperature max ${n(r.temperatureMaxC, 1)} °C*, memory max ${pct(r.memoryMax)}*`
  return `${head}, ${n(r.inferenceRate, 1)} inf/s, errors ${pct(r.errorRate)}, mean ${n(r.latencyAvgMs, 3)} ms, p95 ${n(r.latencyP95Ms, 3)} ms*`
}

const FINISHED = new Set(['completed', 'aborted', 'rolled-back'])

/** The devices a target picks, as the controller reads it (groups, device ids, label values, selectors). */
async function devicesOf(ctx: Context, target: string): Promise<string[]> {
  const api = ctx.client()
  return (await api.ok(api.http.GET('/v1/targets/resolve', { params: { query: { target } } }))).devices
}

/** The rollout named by id (whatever its state), or the active rollouts on any device of the target. */
async function rolloutsFor(ctx: Context, target: string): Promise<RolloutInfo[]> {
  const api = ctx.client()
  const all = (await api.ok(api.http.GET('/v1/rollouts', { params: { query: { limit: 100 } } }))).rollouts
  const byId = all.filter((r) => r.id === target)
  if (byId.length > 0) return byId
  const mine = new Set(await devicesOf(ctx, target))
  const out: RolloutInfo[] = []
  for (const r of all.filter((x) => !FINISHED.has(x.state))) {
    const ids = r.devices ?? (await devicesOf(ctx, r.target ?? ''))
    if (ids.some((id) => mine.has(id))) out.push(r)
  }
  return out
}

interface Frame {
  /** A table for a terminal, redrawn. */
  text: string
  /** Plain lines for a pipe or a log. */
  lines: string
  finished: boolean
  data: unknown
}

async function frame(ctx: Context, target: string, system: boolean): Promise<Frame> {
  const api = ctx.client()
  const rollouts = await rolloutsFor(ctx, target)
  const byId = rollouts.length === 1 && rollouts[0]?.id === target ? rollouts[0] : undefined
  // A rollout id follows that rollout's devices; anything else is a target of its own.
  const scope = byId === undefined ? target : (byId.target ?? '')
  const query = { spanMs: 60_000, ...(scope === '' ? {} : { target: scope }) }
  const tele = await api.untyped<{ cohorts: CohortRow[] }>(api.http.GET('/v1/telemetry', { params: { query } }))
  const at = new Date().toISOString()
  let text = `${at}  target ${target} — ${census(tele.cohorts)}\n${cohortTable(tele.cohorts, system)}`
  let lines = tele.cohorts.map((r) => `${at.slice(11, 19)} ${target} ${cohortLine(r, system)}\n`).join('')
  const rules: Record<string, RuleRow[]> = {}
  for (const r of rollouts) {
    const c = r.counts
    const head = `rollout ${r.id} ${r.model.name}@${r.model.version} ${r.state} step ${r.step + 1}/${r.steps.length}: ${c.succeeded}/${c.cohort} ok, ${c.failed} failed, ${c.silent} silent, ${c.pending} pending`
    const states = (
      await api.untyped<{ states: { results: RuleRow[] } | null }>(
        api.http.GET('/v1/rollouts/{id}/rules', { params: { path: { id: r.id } } }),
      )
    ).states
    rules[r.id] = states?.results ?? []
    const firing = rules[r.id]?.filter((x) => x.firing).map((x) => x.rule) ?? []
    lines += `${at.slice(11, 19)} ${head}; rules firing: ${firing.length === 0 ? 'none' : firing.join(', ')}\n`
    text += `\n${head}\n${ruleTable(rules[r.id] ?? [])}`
  }
  // Watching one rollout by id: the frame that shows it finished is the last.
  const finished = byId !== undefined && FINISHED.has(byId.state)
  return { text, lines, finished, data: { at: Date.now(), cohorts: tele.cohorts, rollouts, rules } }
}

function ruleTable(rows: readonly RuleRow[]): string {
  return table(
    ['RULE', 'OUTCOME', 'FIRING', 'OBSERVED', 'LIMIT', 'SAMPLES'],
    rows.map((x) => [
      x.hardware == null ? x.rule : `${x.rule} [${x.hardware}]`,
      x.outcome,
      x.firing ? 'yes' : 'no',
      n(x.observed, 3),
      n(x.threshold, 3),
      x.sampleSize,
    ]),
  )
}

/**
 * Monitoring thresholds from a baseline file for a target (default: the one the baseline measured)
 * and a model (default: the one it measured): the next rollouts there judge latency and energy
 * against it per hardware class, and so do the running ones.
 */
async function updateThresholds(ctx: Context, o: { target?: string | undefined; model?: string | undefined; file: string }): Promise<void> {
  const api = ctx.client()
  const baseline = await readBaseline(o.file)
  const body: ApiBody<'/v1/thresholds', 'post'> = {
    baseline,
    ...(o.target === undefined ? {} : { target: o.target }),
    ...(o.model === undefined ? {} : { model: o.model === 'any' ? null : o.model }),
  }
  const r = await api.ok(api.http.POST('/v1/thresholds', { body }))
  const classes = Object.entries(r.budgets).map(
    ([hw, b]) => `  ${hw}: latency ${n(b.latencyThresholdMs ?? null, 4)} ms, power ${n(b.energyBudgetMw ?? null, 1)} mW`,
  )
  const running = r.applied.length === 0 ? '' : ` and to ${r.applied.length} running (${r.applied.join(', ')})`
  ctx.print(
    r,
    () =>
      `monitoring thresholds for '${r.scope}' (${r.devices} devices)${r.model === null ? '' : `, model ${r.model}`}, from the ${r.basis}:\n${classes.join('\n')}\n` +
      `the rules judge latency and energy against them (alerts +20%/+15%, rollback +50%/+25%); they apply to the next rollouts there${running}\n`,
  )
}

function eventLine(e: EventRow): string {
  const line = `${new Date(e.at).toISOString()}  ${e.severity.padEnd(8)} ${e.event.padEnd(20)} ${e.rolloutId ?? '-'}  ${e.dryRun === true ? '[dry-run] ' : ''}${e.message}\n`
  const devices = e.devices ?? []
  const rows = devices.slice(0, 50).map((d) => {
    const model = d.model === null ? 'no model' : `${d.model.name}@${d.model.version}`
    return `    ${d.deviceId}  → ${model}  (${d.route}, ${d.outcome})${d.reason === undefined ? '' : `  ${d.reason}`}\n`
  })
  const more = devices.length > 50 ? `    … ${devices.length - 50} more (liquid-lln rollout show ${e.rolloutId ?? ''})\n` : ''
  return line + rows.join('') + more
}

/** The alerts and decisions of one rollout, for `liquid-lln rollout show` (empty when there are none). */
export async function rolloutDecisions(ctx: Context, rolloutId: string): Promise<string> {
  const api = ctx.client()
  const { events } = await api.untyped<{ events: EventRow[] }>(
    api.http.GET('/v1/events', { params: { query: { limit: 1000, rollout: rolloutId } } }),
  )
  const mine = events.filter((e) => e.event === 'alert' || e.event === 'decision').slice(-20)
  return mine.length === 0 ? '' : `\nalerts and decisions:\n${mine.map(eventLine).join('')}`
}

/** `liquid-lln monitor` and `liquid-lln events`. */
export function registerMonitorCommands(program: Command, ctx: Context): void {
  program
    .command('monitor')
    .description('live view of cohort metrics, rule states and rollout progress')
    .option('--target <target|rollout>', `a rollout id (stops when it finishes), or ${TARGET_HELP}: its active rollouts`)
    .option('--duration <seconds>', 'stop after this many seconds', '300')
    .option('--interval <duration>', 'refresh period (default 2s on a terminal, 10s piped: a line per cohort and rollout)')
    .option('--metric <kind>', "'inference' (default) or 'system' (power, temperature, memory)", 'inference')
    .option(
      '--update-thresholds',
      "set monitoring thresholds from --baseline for --target (default: the baseline's own target) and exit: the next rollouts there are judged against them",
    )
    .option('--baseline <file>', 'a baseline written by benchmark --output')
    .option('--model <name|any>', "with --update-thresholds: only rollouts of this model (default: the baseline's model)")
    .action(
      async (o: {
        target?: string
        duration: string
        interval?: string
        metric: string
        updateThresholds?: boolean
        baseline?: string
        model?: string
      }) => {
        if (o.updateThresholds === true) {
          if (o.baseline === undefined) throw new CliError('--update-thresholds needs --baseline <file>', EXIT.USAGE, 'CLI_BAD_FLAG')
          return updateThresholds(ctx, { target: o.target, model: o.model, file: o.baseline })
        }
        if (o.target === undefined) throw new CliError('monitor needs --target <target|rollout>', EXIT.USAGE, 'CLI_BAD_FLAG')
        const target = o.target
        if (o.metric !== 'inference' && o.metric !== 'system')
          throw new CliError(`--metric: '${o.metric}' is not inference or system`, EXIT.USAGE, 'CLI_BAD_FLAG')
        const seconds = Number(o.duration)
        if (!Number.isFinite(seconds) || seconds <= 0)
          throw new CliError(`--duration: '${o.duration}' is not a number of seconds`, EXIT.USAGE, 'CLI_BAD_FLAG')
        const every = parseDurationMs(o.interval ?? (ctx.io.isTTY ? '2s' : '10s'), '--interval')
        const end = Date.now() + seconds * 1000
        // Piped lines carry the same starred figures as the table: say once what the star means.
        if (!ctx.json && !ctx.io.isTTY) ctx.io.stdout(VERSION_NOTE)
        for (;;) {
          const f = await frame(ctx, target, o.metric === 'system')
          if (ctx.json) ctx.io.stdout(`${JSON.stringify(f.data)}\n`)
          else ctx.io.stdout(ctx.io.isTTY ? `\x1b[2J\x1b[H${f.text}` : f.lines)
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
      const api = ctx.client()
      const limit = o.follow === true ? 1000 : parsePositiveInt(o.limit, '--limit')
      for (;;) {
        const query: { limit: number; rollout?: string; after?: string } = {
          limit,
          ...(o.rollout === undefined ? {} : { rollout: o.rollout }),
          ...(after === null ? {} : { after }),
        }
        const page: { events: EventRow[]; last: string | null } = await api.untyped<{ events: EventRow[]; last: string | null }>(
          api.http.GET('/v1/events', { params: { query } }),
        )
        for (const e of page.events) {
          ctx.io.stdout(ctx.json ? `${JSON.stringify(e)}\n` : eventLine(e))
        }
        after = page.last ?? after
        if (o.follow !== true) return
        await sleep(1000)
      }
    })
}
