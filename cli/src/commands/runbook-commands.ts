import type { Command } from 'commander'
import { CliError, EXIT } from '../client.js'
import type { Context } from '../context.js'
import { readBaseline } from '../files.js'
import { TARGET_HELP, choice, parseDurationMs, parseFraction, parsePositiveInt } from '../parse.js'
import { VERDICT_FAILED, streamVerb } from '../runbook/stream.js'
import { renderReport } from '../runbook/render.js'
import type { StreamLine } from '../runbook/stream.js'

interface Common {
  target: string
  timeout: string
  allowUnreachable?: boolean
}

function common(o: Common): { target: string; timeoutMs: number; allowUnreachable: boolean } {
  return { target: o.target, timeoutMs: parseDurationMs(o.timeout, '--timeout'), allowUnreachable: o.allowUnreachable === true }
}

/** Run a verb: stream progress to stderr (people) or nothing (--json), print the report, exit by its verdict. */
async function runVerb(
  ctx: Context,
  verb: string,
  body: unknown,
  o: { detailed?: boolean; after?: (r: Record<string, unknown>) => Promise<void> } = {},
): Promise<number> {
  const progress = verbProgress(ctx, verb)
  try {
    const report = await streamVerb(ctx, verb, body, progress.line)
    await o.after?.(report)
    ctx.print(report, () => renderReport(report, o.detailed === true))
    return report.verdict === 'pass' ? EXIT.OK : VERDICT_FAILED
  } finally {
    progress.stop()
  }
}

/** Without news for this long, a plain line says what the verb is waiting for. */
const QUIET_EVERY_MS = 5000

/**
 * Progress of a runbook verb as plain lines on stderr (never a redraw, also when piped): each device
 * as it answers, log lines as they come, and every few seconds without news how many answered and
 * how many samples the devices measured so far.
 */
function verbProgress(ctx: Context, verb: string): { line: (l: StreamLine) => void; stop: () => void } {
  const started = Date.now()
  const partial = new Map<string, number>()
  let answered = { done: 0, total: 0 }
  let last = started
  const say = (text: string): void => {
    last = Date.now()
    if (!ctx.json) ctx.io.stderr(text)
  }
  const timer = setInterval(() => {
    if (Date.now() - last < QUIET_EVERY_MS) return
    const seconds = Math.round((Date.now() - started) / 1000)
    const of = answered.total === 0 ? 'waiting for the devices' : `${answered.done}/${answered.total} devices answered`
    const samples = [...partial.values()].reduce((a, b) => a + b, 0)
    const measuring = partial.size === 0 ? '' : `, ${partial.size} measuring, ${samples} samples so far`
    say(`  ${verb}: ${of}${measuring} (${seconds} s)\n`)
  }, 1000)
  const line = (l: StreamLine): void => {
    if (l.type === 'partial') partial.set(l.deviceId, l.samples)
    if (l.type === 'progress') {
      answered = { done: l.done, total: l.total }
      partial.delete(l.deviceId)
      say(`  [${l.done}/${l.total}] ${l.deviceId} ${l.status}\n`)
    }
    if (l.type === 'log') {
      last = Date.now()
      if (!ctx.json) ctx.io.stdout(`${new Date(l.ts).toISOString()} ${l.deviceId} ${l.level.padEnd(5)} ${l.msg}\n`)
    }
  }
  return {
    line,
    stop: () => {
      clearInterval(timer)
    },
  }
}

/** How long `compare` measures by default: as long as its baseline did (a like-for-like sample), at most a minute. */
function baselineSpanMs(baseline: unknown): number {
  const recorded = (baseline as { durationMs?: unknown } | null)?.durationMs
  return typeof recorded === 'number' && recorded > 0 ? Math.min(recorded, 60_000) : 60_000
}

/** Flags of the verbs that measure on the devices. */
const measured = (c: Command): Command =>
  c.option('--duty-cycle <share>', "largest share of each device's time the measurement may take, e.g. 25%", '25%')

const duty = (o: { dutyCycle: string }): { dutyCycle: number } => ({ dutyCycle: parseFraction(o.dutyCycle, '--duty-cycle') })

const target = (c: Command): Command =>
  c
    .requiredOption('--target <target>', TARGET_HELP)
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

/** `verify profile evaluate health benchmark compare analyze logs test`: the runbook's verbs. */
export function registerRunbookCommands(program: Command, ctx: Context, setExit: (code: number) => void): void {
  const act =
    <T>(fn: (o: T) => Promise<number>) =>
    async (o: T) => {
      setExit(await fn(o))
    }
  measured(target(program.command('verify').description('run a test suite on the devices; exit 0 only if every reachable device passed')))
    .option('--test-suite <suite>', 'smoke|integration|production|full', 'smoke')
    .option('--samples <n>', 'samples for the budget checks', '200')
    .option(
      '--min-agreement <share>',
      'production|full: fail a staged candidate agreeing with the active model less than this (default: reported only)',
    )
    .action(
      act(async (o: Common & { testSuite: string; samples: string; dutyCycle: string; minAgreement?: string }) =>
        runVerb(ctx, 'verify', {
          ...common(o),
          ...duty(o),
          suite: choice(o.testSuite, ['smoke', 'integration', 'production', 'full'], '--test-suite'),
          samples: parsePositiveInt(o.samples, '--samples'),
          ...(o.minAgreement === undefined ? {} : { minAgreement: parseFraction(o.minAgreement, '--min-agreement') }),
        }),
      ),
    )
  measured(target(program.command('profile').description('profile latency or energy: fleet quantiles, per-hardware breakdown, outliers')))
    .option('--metric <metric>', 'latency|energy (with --detailed and no --metric: every metric)')
    .option('--duration <duration>', 'measure for this long, e.g. 60 (seconds) or 2m')
    .option('--samples <n>', 'measure this many inferences')
    .option('--detailed', 'show every device')
    .action(
      act(async (o: Common & { metric?: string; duration?: string; samples?: string; detailed?: boolean; dutyCycle: string }) => {
        if (o.metric === undefined && o.detailed !== true)
          throw new CliError('give --metric latency|energy, or --detailed for every metric', EXIT.USAGE, 'CLI_BAD_FLAG')
        if (o.duration !== undefined && o.samples !== undefined)
          throw new CliError('give --duration or --samples, not both', EXIT.USAGE, 'CLI_BAD_FLAG')
        const until =
          o.samples !== undefined
            ? { samples: parsePositiveInt(o.samples, '--samples') }
            : { durationMs: parseDurationMs(o.duration ?? '10s', '--duration') }
        const metrics = o.metric === undefined ? (['latency', 'energy'] as const) : [choice(o.metric, ['latency', 'energy'], '--metric')]
        let worst: number = EXIT.OK
        for (const metric of metrics) {
          const code = await runVerb(ctx, 'profile', { ...common(o), ...duty(o), metric, ...until }, { detailed: o.detailed === true })
          worst = Math.max(worst, code)
        }
        return worst
      }),
    )
  measured(target(program.command('evaluate').description("accuracy per device and overall against the model's minimum")))
    .option('--dataset <name>', 'the labelled set of the model package', 'validation')
    .option('--min-accuracy <share>', "override the model's minimum, e.g. 0.9 or 90%")
    .action(
      act(async (o: Common & { dataset: string; minAccuracy?: string; dutyCycle: string }) =>
        runVerb(ctx, 'evaluate', {
          ...common(o),
          ...duty(o),
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
  measured(target(program.command('compare').description('measure again and compare with a baseline: a verdict per metric')))
    .requiredOption('--baseline <file>', 'a baseline written by benchmark --output')
    .option('--duration <duration>', 'measure for this long (default: as long as the baseline did, at most 60 s)')
    .option('--tolerance <share>', 'relative change counted as a regression', '10%')
    .action(
      act(async (o: Common & { baseline: string; duration?: string; tolerance: string; dutyCycle: string }) => {
        const baseline = await readBaseline(o.baseline)
        const durationMs = o.duration === undefined ? baselineSpanMs(baseline) : parseDurationMs(o.duration, '--duration')
        return runVerb(ctx, 'compare', {
          ...common(o),
          ...duty(o),
          durationMs,
          timeoutMs: Math.max(parseDurationMs(o.timeout, '--timeout'), durationMs + 15_000),
          baseline,
          tolerance: parseFraction(o.tolerance, '--tolerance'),
        })
      }),
    )
  measured(target(program.command('analyze').description('rank the hardware classes and devices that explain a performance regression')))
    .option('--metric <metric>', 'performance', 'performance')
    .option('--baseline <file>', 'compare with this baseline (default: each model latency threshold)')
    .option('--samples <n>', 'inferences per device', '200')
    .option('--tolerance <share>', 'excess counted as a regression', '10%')
    .action(
      act(async (o: Common & { metric: string; baseline?: string; samples: string; tolerance: string; dutyCycle: string }) =>
        runVerb(ctx, 'analyze', {
          ...common(o),
          ...duty(o),
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
