import { spawn } from 'node:child_process'
import type { Command } from 'commander'
import * as z from 'zod'
import { CliError, EXIT } from '../client.js'
import type { Context } from '../context.js'
import { table } from '../output.js'
import { parseDurationMs } from '../parse.js'
import { VERDICT_FAILED, postLines, streamError } from '../runbook/stream.js'

const StatusSchema = z.enum(['pass', 'fail', 'skip', 'unsupported'])
const CheckSchema = z.object({
  id: z.string(),
  clause: z.string(),
  title: z.string(),
  status: StatusSchema,
  detail: z.string(),
  elapsedMs: z.number(),
})
type CheckResult = z.infer<typeof CheckSchema>
const ReportSchema = z.object({
  deviceId: z.string(),
  models: z.array(z.string()),
  startedAt: z.number(),
  finishedAt: z.number(),
  passed: z.boolean(),
  counts: z.record(StatusSchema, z.number()),
  checks: z.array(CheckSchema),
})
type Report = z.infer<typeof ReportSchema>
const ActionSchema = z.object({
  kind: z.enum(['disconnect', 'reconnect']),
  deviceId: z.string(),
  connection: z.string(),
  prompt: z.string(),
})

/** A line of `POST /v1/conformance` as NDJSON. */
const LineSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('check'), check: CheckSchema }),
  z.object({ type: z.literal('action'), action: ActionSchema }),
  z.object({ type: z.literal('report'), report: ReportSchema }),
  z.object({ type: z.literal('error'), error: z.object({ code: z.string(), message: z.string() }) }),
])

interface Listed {
  id: string
  clause: string
  title: string
  offline: boolean
}

interface Options {
  device?: string
  list?: boolean
  models?: string
  skip?: string
  trial: string
  stepTimeout: string
  offlineTimeout: string
  disconnectCommand?: string
  reconnectCommand?: string
}

type Action = z.infer<typeof ActionSchema>

/**
 * Run the operator's own command for an action (a lab's power switch, `ssh dut ip link set eth0
 * down`) with the device and its connection in `LLN_DEVICE` and `LLN_CONNECTION`; its output goes
 * to stderr. The kit judges the effect, so a failed command is only said, not fatal.
 */
function runHook(ctx: Context, command: string, a: Action): void {
  ctx.io.stderr(`  conformance: running ${a.kind} command: ${command}\n`)
  const child = spawn(command, {
    shell: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...ctx.io.env, LLN_DEVICE: a.deviceId, LLN_CONNECTION: a.connection },
  })
  const relay = (b: Buffer): void => {
    ctx.io.stderr(b.toString())
  }
  child.stdout.on('data', relay)
  child.stderr.on('data', relay)
  child.on('error', (err) => {
    ctx.io.stderr(`  conformance: the ${a.kind} command did not start: ${err.message}\n`)
  })
  child.on('exit', (code) => {
    if (code !== 0) ctx.io.stderr(`  conformance: the ${a.kind} command exited with ${String(code)}; waiting for its effect anyway\n`)
  })
}

const MARK: Record<CheckResult['status'], string> = { pass: '✔', fail: '✘', skip: '-', unsupported: '○' }
/** Without news for this long, a plain line says which check is running. */
const QUIET_EVERY_MS = 5000

const list = (text: string | undefined): string[] =>
  text === undefined
    ? []
    : text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')

async function checks(ctx: Context): Promise<Listed[]> {
  const client = ctx.client()
  return (await client.untyped<{ checks: Listed[] }>(client.http.GET('/v1/conformance/checks'))).checks
}

/** The report as people read it: one row per check with its clause, then the verdict. */
export function renderConformance(r: Report): string {
  const rows = r.checks.map((c) => [c.id, c.clause, c.status === 'fail' ? 'FAIL' : c.status, c.detail])
  const counts = (['pass', 'fail', 'skip', 'unsupported'] as const).map((s) => `${r.counts[s]} ${s}`).join(', ')
  const seconds = Math.round((r.finishedAt - r.startedAt) / 1000)
  return `${table(['CHECK', 'CLAUSE', 'RESULT', 'DETAIL'], rows)}conformance ${r.deviceId} (${r.models.join(' ↔ ')}, ${seconds} s): ${counts}\nverdict: ${r.passed ? 'PASS' : 'FAIL'}\n`
}

/**
 * Progress of a run as plain lines on stderr (never a redraw, also when piped): each check as it
 * ends, the operator's actions loudly, and every few seconds without news the check that runs.
 */
function progress(ctx: Context, all: readonly Listed[], skip: ReadonlySet<string>, hooks: Partial<Record<Action['kind'], string>>) {
  const started = Date.now()
  let done = 0
  let last = started
  const say = (text: string): void => {
    last = Date.now()
    ctx.io.stderr(text)
  }
  const planned = all.filter((c) => !skip.has(c.id) && !(c.offline && skip.has('offline'))).length + 1 // + restore
  const timer = setInterval(() => {
    if (Date.now() - last < QUIET_EVERY_MS) return
    const next = all[done]
    const what = next === undefined ? 'restore: putting the device back on its model' : `${next.id} (${next.clause}): ${next.title}`
    if (!ctx.json) say(`  conformance: checking ${what} (${Math.round((Date.now() - started) / 1000)} s)\n`)
  }, 1000)
  return {
    check(c: CheckResult): void {
      done++
      const n = c.status === 'skip' && c.detail === 'left out on request' ? '' : ` (${(c.elapsedMs / 1000).toFixed(1)} s)`
      if (!ctx.json) say(`  [${done}/${all.length + 1}] ${MARK[c.status]} ${c.id} ${c.clause} ${c.status}: ${c.detail}${n}\n`)
    },
    // Always printed, --json too: only a person (or a lab script watching stderr) can do it.
    action(a: Action): void {
      const hook = hooks[a.kind]
      if (hook === undefined) say(`\n>>> ACTION (${a.kind} ${a.connection}): ${a.prompt}\n\n`)
      else runHook(ctx, hook, a)
    },
    planned,
    stop(): void {
      clearInterval(timer)
    },
  }
}

async function run(ctx: Context, o: Options & { device: string }): Promise<number> {
  const skip = list(o.skip)
  const models = list(o.models)
  if (models.length !== 0 && models.length !== 2)
    throw new CliError('--models takes two name@version, e.g. kws@1.0.0,kws@1.1.0', EXIT.USAGE, 'CLI_BAD_FLAG')
  const all = await checks(ctx)
  const unknown = skip.filter((s) => s !== 'offline' && !all.some((c) => c.id === s))
  if (unknown.length > 0)
    throw new CliError(`--skip: no check ${unknown.join(', ')} (liquid-lln conformance --list)`, EXIT.USAGE, 'CLI_BAD_FLAG')
  const body = {
    device: o.device,
    skip,
    trialMs: parseDurationMs(o.trial, '--trial'),
    stepTimeoutMs: parseDurationMs(o.stepTimeout, '--step-timeout'),
    offlineTimeoutMs: parseDurationMs(o.offlineTimeout, '--offline-timeout'),
    ...(models.length === 0 ? {} : { models }),
  }
  const hooks = {
    ...(o.disconnectCommand === undefined ? {} : { disconnect: o.disconnectCommand }),
    ...(o.reconnectCommand === undefined ? {} : { reconnect: o.reconnectCommand }),
  }
  const p = progress(ctx, all, new Set(skip), hooks)
  if (!ctx.json)
    ctx.io.stderr(
      `conformance of ${o.device}: ${p.planned} checks; the kit moves the device between two models and back${skip.includes('offline') || o.disconnectCommand !== undefined ? '' : ', and will ask you to take it offline and back'}\n`,
    )
  let report: Report | null = null
  try {
    await postLines(ctx, '/v1/conformance', body, (json) => {
      const parsed = LineSchema.safeParse(json)
      if (!parsed.success)
        throw new CliError(`unexpected answer from the controller: ${z.prettifyError(parsed.error)}`, EXIT.ERROR, 'CLI_BAD_RESPONSE')
      const line = parsed.data
      if (line.type === 'check') p.check(line.check)
      else if (line.type === 'action') p.action(line.action)
      else if (line.type === 'report') report = line.report
      else throw streamError(line.error)
    })
  } finally {
    p.stop()
  }
  const final = report as Report | null
  if (final === null)
    throw new CliError('the controller ended the answer without a report (partial results lost)', EXIT.ERROR, 'CLI_BAD_RESPONSE')
  ctx.print(final, () => renderConformance(final))
  return final.passed ? EXIT.OK : VERDICT_FAILED
}

/** `liquid-lln conformance --device <id>`: the device contract's conformance kit, driven through the API. */
export function registerConformanceCommands(program: Command, ctx: Context, setExit: (code: number) => void): void {
  program
    .command('conformance')
    .description('check a device against the device contract (docs/device-contract.md); exit 0 only if no check fails')
    .option('--device <id>', 'the registered, online device to check (a gateway child: its own id)')
    .option('--list', 'list the checks in order with their contract clauses, and exit')
    .option('--models <a,b>', 'two name@version the device can run (default: the one it runs and another from the store)')
    .option('--skip <ids>', 'check ids to leave out, comma-separated; "offline" leaves out the checks that need an outage')
    .option('--trial <duration>', 'trial length of the deploys the kit makes', '3s')
    .option('--step-timeout <duration>', 'how long one step (a download, a command answer) may take', '30s')
    .option('--offline-timeout <duration>', 'how long you have to take the device offline, and to bring it back', '2m')
    .option('--disconnect-command <shell>', 'run this instead of asking you to take the device offline ($LLN_DEVICE, $LLN_CONNECTION)')
    .option('--reconnect-command <shell>', 'run this instead of asking you to bring the device back')
    .action(async (o: Options) => {
      if (o.list === true) {
        const all = await checks(ctx)
        ctx.print({ checks: all }, () =>
          table(
            ['CHECK', 'CLAUSE', 'OFFLINE', 'WHAT'],
            all.map((c) => [c.id, c.clause, c.offline ? 'yes' : '', c.title]),
          ),
        )
        return
      }
      if (o.device === undefined) throw new CliError('give --device <id> (or --list)', EXIT.USAGE, 'CLI_BAD_FLAG')
      setExit(await run(ctx, { ...o, device: o.device }))
    })
}
