import { readFile, writeFile } from 'node:fs/promises'
import type { Command } from 'commander'
import * as z from 'zod'
import { CliError, EXIT } from '../cli/client.js'
import type { Context } from '../cli/context.js'
import { parseDurationMs, parseFraction, parsePositiveInt } from '../cli/parse.js'
import { VERDICT_FAILED, streamVerb } from './cli-stream.js'
import { renderReport } from './render.js'
import type { StreamLine } from './report.js'
import { BaselineSchema } from './verbs/benchmark.js'

interface Common {
  target: string
  timeout: string
  allowUnreachable?: boolean
}

function choice<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value))
    throw new CliError(`${flag} must be one of ${allowed.join(', ')} (got '${value}')`, EXIT.USAGE, 'CLI_BAD_FLAG')
  return value as T
}

function common(o: Common): { target: string; timeoutMs: number; allowUnreachable: boolean } {
  return { target: o.target, timeoutMs: parseDurationMs(o.timeout, '--timeout'), allowUnreachable: o.allowUnreachable === true }
}

async function readBaseline(path: string): Promise<z.infer<typeof BaselineSchema>> {
  let json: unknown
  try {
    json = JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    throw new CliError(`--baseline: cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`, EXIT.USAGE, 'CLI_BAD_FLAG')
  }
  const parsed = BaselineSchema.safeParse(json)
  if (!parsed.success)
    throw new CliError(`--baseline: ${path} is not a liquid-lln baseline: ${z.prettifyError(parsed.error)}`, EXIT.USAGE, 'CLI_BAD_FLAG')
  return parsed.data
}

/** Run a verb: stream progress to stderr (people) or nothing (--json), print the report, exit by its verdict. */
async function runVerb(
  ctx: Context,
  verb: string,
  body: unknown,
  o: { detailed?: boolean; after?: (r: Record<string, unknown>) => Promise<void> } = {},
): Promise<number> {
  const progress = (line: StreamLine): void => {
    if (line.type === 'progress' && !ctx.json) ctx.io.stderr(`  [${line.done}/${line.total}] ${line.deviceId} ${line.status}\n`)
    if (line.type === 'log' && !ctx.json)
      ctx.io.stdout(`${new Date(line.ts).toISOString()} ${line.deviceId} ${line.level.padEnd(5)} ${line.msg}\n`)
  }
  const report = await streamVerb(ctx, verb, body, progress)
  await o.after?.(report)
  ctx.print(report, () => renderReport(report, o.detailed === true))
  return report.verdict === 'pass' ? EXIT.OK : VERDICT_FAILED
}

const target = (c: Command): Command =>
  c
    .requiredOption('--target <target>', 'a device id or a label selector, e.g. stm32h743 or env=production,hw=rpi4')
    .option('--timeout <duration>', 'how long to wait for the devices', '30s')
    .option('--allow-unreachable', 'list unreachable devices without failing the verdict')

/** `status --metric storage|memory|slots` through the runbook: a device id or a selector, a timeout, unreachable devices said plainly. */
export function runStatusMetric(
  ctx: Context,
  o: { target?: string | undefined; metric: string; timeout?: string | undefined; allowUnreachable?: boolean | undefined },
): Promise<number> {
  if (o.target === undefined) throw new CliError('--metric needs --target <device or selector>', EXIT.USAGE, 'CLI_BAD_FLAG')
  return runVerb(ctx, 'status', {
    ...common({ target: o.target, timeout: o.timeout ?? '10s', allowUnreachable: o.allowUnreachable === true }),
    metric: choice(o.metric, ['storage', 'memory', 'slots'], '--metric'),
  })
}

/** `verify profile evaluate health benchmark compare analyze logs test` (issue #9). */
export function registerRunbookCommands(program: Command, ctx: Context, setExit: (code: number) => void): void {
  const act =
    <T>(fn: (o: T) => Promise<number>) =>
    async (o: T) => {
      setExit(await fn(o))
    }
  target(program.command('verify').description('run a test suite on the devices; exit 0 only if every reachable device passed'))
    .option('--test-suite <suite>', 'smoke|integration|production|full', 'smoke')
    .option('--samples <n>', 'samples for the budget checks', '200')
    .action(
      act(async (o: Common & { testSuite: string; samples: string }) =>
        runVerb(ctx, 'verify', {
          ...common(o),
          suite: choice(o.testSuite, ['smoke', 'integration', 'production', 'full'], '--test-suite'),
          samples: parsePositiveInt(o.samples, '--samples'),
        }),
      ),
    )
  target(program.command('profile').description('profile latency or energy: fleet quantiles, per-hardware breakdown, outliers'))
    .requiredOption('--metric <metric>', 'latency|energy')
    .option('--duration <duration>', 'measure for this long, e.g. 60 (seconds) or 2m')
    .option('--samples <n>', 'measure this many inferences')
    .option('--detailed', 'show every device')
    .action(
      act(async (o: Common & { metric: string; duration?: string; samples?: string; detailed?: boolean }) => {
        if (o.duration !== undefined && o.samples !== undefined)
          throw new CliError('give --duration or --samples, not both', EXIT.USAGE, 'CLI_BAD_FLAG')
        const until =
          o.samples !== undefined
            ? { samples: parsePositiveInt(o.samples, '--samples') }
            : { durationMs: parseDurationMs(o.duration ?? '10s', '--duration') }
        return runVerb(
          ctx,
          'profile',
          { ...common(o), metric: choice(o.metric, ['latency', 'energy'], '--metric'), ...until },
          { detailed: o.detailed === true },
        )
      }),
    )
  target(program.command('evaluate').description("accuracy per device and overall against the model's minimum"))
    .option('--dataset <name>', 'the labelled set of the model package', 'validation')
    .option('--min-accuracy <share>', "override the model's minimum, e.g. 0.9 or 90%")
    .action(
      act(async (o: Common & { dataset: string; minAccuracy?: string }) =>
        runVerb(ctx, 'evaluate', {
          ...common(o),
          dataset: o.dataset,
          ...(o.minAccuracy === undefined ? {} : { minAccuracy: parseFraction(o.minAccuracy, '--min-accuracy') }),
        }),
      ),
    )
  target(program.command('health').description('online/offline, last seen, error rate, temperature, memory, version mix'))
    .option('--window <duration>', 'telemetry span to judge', '5m')
    .action(
      act(async (o: Common & { window: string }) =>
        runVerb(ctx, 'health', { ...common(o), windowMs: parseDurationMs(o.window, '--window') }),
      ),
    )
  target(program.command('benchmark').description('measure a baseline per model version, hardware class and percentile'))
    .option('--duration <duration>', 'measure for this long, e.g. 3600 (seconds) or 1h', '60')
    .option('--output <file>', 'write the baseline JSON here')
    .action(
      act(async (o: Common & { duration: string; output?: string }) => {
        const durationMs = parseDurationMs(o.duration, '--duration')
        const req = { ...common(o), durationMs, timeoutMs: Math.max(parseDurationMs(o.timeout, '--timeout'), durationMs + 15_000) }
        return runVerb(ctx, 'benchmark', req, {
          after: async (r) => {
            if (o.output === undefined) return
            await writeFile(o.output, `${JSON.stringify(r.baseline, null, 2)}\n`)
            if (!ctx.json) ctx.io.stderr(`baseline written to ${o.output}\n`)
          },
        })
      }),
    )
  target(program.command('compare').description('measure again and compare with a baseline: a verdict per metric'))
    .requiredOption('--baseline <file>', 'a baseline written by benchmark --output')
    .option('--duration <duration>', 'measure for this long', '60')
    .option('--tolerance <share>', 'relative change counted as a regression', '10%')
    .action(
      act(async (o: Common & { baseline: string; duration: string; tolerance: string }) => {
        const durationMs = parseDurationMs(o.duration, '--duration')
        const req = { ...common(o), durationMs, timeoutMs: Math.max(parseDurationMs(o.timeout, '--timeout'), durationMs + 15_000) }
        return runVerb(ctx, 'compare', {
          ...req,
          baseline: await readBaseline(o.baseline),
          tolerance: parseFraction(o.tolerance, '--tolerance'),
        })
      }),
    )
  target(program.command('analyze').description('rank the hardware classes and devices that explain a performance regression'))
    .option('--metric <metric>', 'performance', 'performance')
    .option('--baseline <file>', 'compare with this baseline (default: each model latency threshold)')
    .option('--samples <n>', 'inferences per device', '200')
    .option('--tolerance <share>', 'excess counted as a regression', '10%')
    .action(
      act(async (o: Common & { metric: string; baseline?: string; samples: string; tolerance: string }) =>
        runVerb(ctx, 'analyze', {
          ...common(o),
          metric: choice(o.metric, ['performance'], '--metric'),
          samples: parsePositiveInt(o.samples, '--samples'),
          tolerance: parseFraction(o.tolerance, '--tolerance'),
          ...(o.baseline === undefined ? {} : { baseline: await readBaseline(o.baseline) }),
        }),
      ),
    )
  target(program.command('logs').description("a device's recent log lines; --follow streams further lines"))
    .option('--lines <n>', 'recent lines', '100')
    .option('--follow', 'keep streaming new lines')
    .option('--follow-for <duration>', 'with --follow: stop after', '30s')
    .action(
      act(async (o: Common & { lines: string; follow?: boolean; followFor: string }) =>
        runVerb(ctx, 'logs', {
          ...common(o),
          lines: parsePositiveInt(o.lines, '--lines'),
          follow: o.follow === true,
          followMs: parseDurationMs(o.followFor, '--follow-for'),
        }),
      ),
    )
  target(program.command('test').description('end-to-end scenario: golden vectors through every device'))
    .option('--scenario <name>', 'end-to-end', 'end-to-end')
    .action(
      act(async (o: Common & { scenario: string }) =>
        runVerb(ctx, 'test', { ...common(o), scenario: choice(o.scenario, ['end-to-end'], '--scenario') }),
      ),
    )
}
