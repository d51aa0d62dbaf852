import { writeFile } from 'node:fs/promises'
import type { Command } from 'commander'
import { CliError, EXIT, type ApiAnswer, type ApiBody, type ApiClient } from '../client.js'
import type { Context } from '../context.js'
import { parseDurationMs, parseFraction } from '../parse.js'
import { renderReport } from '../runbook/render.js'
import { VERDICT_FAILED } from '../runbook/stream.js'

/** A runbook job as the controller answers it: its state, progress, and report once it ended. */
type Job = ApiAnswer<'/v1/runbook/jobs/{id}', 'get'>

const POLL_MS = 1000
const PROGRESS_EVERY_MS = 5000
/** `liquid-lln` exits with this when the operator interrupted it (as a shell does after Ctrl-C). */
const INTERRUPTED = 130

interface BenchOptions {
  target: string
  timeout: string
  allowUnreachable?: boolean
  duration: string
  dutyCycle: string
  output?: string
}

function request(o: BenchOptions): ApiBody<'/v1/runbook/benchmark/jobs', 'post'> {
  const durationMs = parseDurationMs(o.duration, '--duration')
  return {
    target: o.target,
    durationMs,
    timeoutMs: Math.max(parseDurationMs(o.timeout, '--timeout'), durationMs + 15_000),
    allowUnreachable: o.allowUnreachable === true,
    dutyCycle: parseFraction(o.dutyCycle, '--duty-cycle'),
  }
}

const jobs = {
  start: (api: ApiClient, body: ApiBody<'/v1/runbook/benchmark/jobs', 'post'>): Promise<Job> =>
    api.ok(api.http.POST('/v1/runbook/benchmark/jobs', { body })),
  get: (api: ApiClient, id: string): Promise<Job> => api.ok(api.http.GET('/v1/runbook/jobs/{id}', { params: { path: { id } } })),
  cancel: (api: ApiClient, id: string): Promise<Job> => api.ok(api.http.DELETE('/v1/runbook/jobs/{id}', { params: { path: { id } } })),
}

const done = (j: Job): boolean => j.state === 'completed' || j.state === 'failed' || j.state === 'cancelled'

function progressLine(j: Job): string {
  const p = j.progress
  if (p === null) return `  benchmark ${j.id}: ${j.state}\n`
  return `  benchmark ${j.id}: ${j.state}, ${Math.round(p.elapsedMs / 1000)} s, ${p.measuring} devices measuring, ${p.samples} samples, ${p.answered}/${p.devices} answered\n`
}

/** Print the report of a finished job, write its baseline, and say how to exit. */
async function finish(ctx: Context, j: Job, output: string | undefined): Promise<number> {
  if (j.state === 'failed' || j.report === null) {
    throw new CliError(`benchmark ${j.id} ${j.state}: ${j.error?.message ?? 'no report'}`, EXIT.ERROR, j.error?.code ?? 'CLI_JOB_FAILED')
  }
  const report = j.report
  if (output !== undefined && report.baseline !== undefined) {
    await writeFile(output, `${JSON.stringify(report.baseline, null, 2)}\n`)
    if (!ctx.json) ctx.io.stderr(`baseline written to ${output}\n`)
  }
  ctx.print(j, () => renderReport(report))
  return j.report.verdict === 'pass' ? EXIT.OK : VERDICT_FAILED
}

/**
 * Follow a job until it ends: a plain progress line every few seconds; Ctrl-C (or SIGTERM) cancels it
 * on the controller, which stops the measurement on every device, and exits 130.
 */
async function follow(ctx: Context, api: ApiClient, id: string, output: string | undefined): Promise<number> {
  const interrupt = new AbortController()
  const stop = (): void => {
    interrupt.abort()
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  const interrupted = (): boolean => interrupt.signal.aborted
  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      interrupt.signal.addEventListener('abort', () => {
        clearTimeout(timer)
        resolve()
      })
    })
  try {
    let j = await jobs.get(api, id)
    let shownAt = 0
    while (!done(j) && !interrupted()) {
      if (!ctx.json && Date.now() - shownAt >= PROGRESS_EVERY_MS) {
        shownAt = Date.now()
        ctx.io.stderr(progressLine(j))
      }
      await sleep(POLL_MS)
      if (!interrupted()) j = await jobs.get(api, id)
    }
    if (interrupted()) {
      const cancelled = await jobs.cancel(api, id)
      ctx.io.stderr(`interrupted: benchmark ${id} ${cancelled.state === 'waiting' ? 'removed' : 'cancelled'}; the devices stop measuring\n`)
      return INTERRUPTED
    }
    return await finish(ctx, j, output)
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}

const benchFlags = (c: Command): Command =>
  c
    .requiredOption('--target <target>', 'a group, device id, label value or selector, e.g. production or env=production')
    .option('--duration <duration>', 'measure for this long, e.g. 3600 (seconds) or 1h', '60')
    .option('--timeout <duration>', 'wait this long beyond the measurement for the devices', '30s')
    .option('--allow-unreachable', 'list unreachable devices without failing the verdict')
    .option('--duty-cycle <share>', "largest share of each device's time the measurement may take", '25%')

/**
 * `benchmark`: a job on the controller (BullMQ, report kept in Redis), not a connection held open.
 * `benchmark --target … --output F` starts one and follows it; `benchmark start` only starts it;
 * `benchmark status <id> [--wait]` follows one; `benchmark cancel <id>` stops one.
 */
export function registerBenchmarkCommands(program: Command, ctx: Context, setExit: (code: number) => void): void {
  const bench = program
    .command('benchmark')
    .description('measure a baseline per model version, hardware class and percentile (a job on the controller)')
  benchFlags(bench.command('run', { isDefault: true }).description('start a benchmark job and follow it to its report (Ctrl-C cancels it)'))
    .option('--output <file>', 'write the baseline JSON here')
    .action(async (o: BenchOptions) => {
      const api = ctx.client()
      const j = await jobs.start(api, request(o))
      if (!ctx.json) ctx.io.stderr(`benchmark ${j.id} started (liquid-lln benchmark status ${j.id} follows it from anywhere)\n`)
      setExit(await follow(ctx, api, j.id, o.output))
    })
  benchFlags(bench.command('start').description('start a benchmark job and print its id')).action(async (o: BenchOptions) => {
    const j = await jobs.start(ctx.client(), request(o))
    ctx.print(j, () => `${j.id}\n`)
  })
  bench
    .command('status <id>')
    .description('a benchmark job: its state and progress, or its report once it ended')
    .option('--wait', 'follow it until it ends')
    .option('--output <file>', 'write the baseline JSON here once it ended')
    .action(async (id: string, o: { wait?: boolean; output?: string }) => {
      const api = ctx.client()
      if (o.wait === true) {
        setExit(await follow(ctx, api, id, o.output))
        return
      }
      const j = await jobs.get(api, id)
      if (done(j)) {
        setExit(await finish(ctx, j, o.output))
        return
      }
      ctx.print(j, () => progressLine(j))
    })
  bench
    .command('cancel <id>')
    .description('cancel a benchmark job: the devices stop measuring')
    .action(async (id: string) => {
      const j = await jobs.cancel(ctx.client(), id)
      ctx.print(j, () => `benchmark ${j.id}: ${j.state}\n`)
    })
}
