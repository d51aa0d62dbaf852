import { existsSync } from 'node:fs'
import type { Command } from 'commander'
import { CliError, EXIT, type ApiBody } from '../client.js'
import type { Context } from '../context.js'
import { deviceTable } from './device-commands.js'
import { readPackage } from '../files.js'
import { table } from '../output.js'
import {
  TARGET_HELP,
  choice,
  parseDurationMs,
  parseFraction,
  parseModelRef,
  parsePercent,
  parsePositiveInt,
  parseVersion,
} from '../parse.js'
import { UNTIL, isBaking, waitForRollout, type RolloutInfo, type Until } from '../wait.js'
import { runStatusMetric } from './runbook-commands.js'
import { rolloutDecisions } from './monitor-commands.js'

interface DeployFlags {
  target: string
  model: string
  subset?: string
  steps?: string
  strategy?: string
  canary?: string
  canaryCount?: string
  bake?: string
  batchSize?: string
  env?: string
  name?: string
  rate?: string
  maxInFlight?: string
  deadline?: string
  trial?: string
  fallback?: string
  minAccuracy?: string
  success?: string
  failure?: string
  onFailure?: string
  stratify?: string
  supersede?: boolean
  debug?: boolean
  wait?: boolean
  until?: string
  timeout: string
}

const STRATEGIES = ['rolling', 'canary', 'blue-green', 'all'] as const

function rolloutLine(r: RolloutInfo): string {
  const c = r.counts
  return `${r.id}  ${r.kind} ${r.model.name}@${r.model.version}  ${r.state}${r.reason === null ? '' : ` (${r.reason})`}\n  step ${r.step + 1}/${r.steps.length}  succeeded ${c.succeeded + c.skipped}  failed ${c.failed}  silent ${c.silent}  pending ${c.pending}  of ${c.targeted} targeted\n`
}

/** Exit code of a settled rollout (or, waiting `until` baking, one that bakes): 0 when it did what was asked. */
function settledExit(r: RolloutInfo, until: Until = 'settled'): number {
  return r.state === 'completed' || r.state === 'staged' || (until === 'baking' && isBaking(r)) ? EXIT.OK : EXIT.ROLLOUT_FAILED
}

async function resolveModel(ctx: Context, spec: string): Promise<{ name: string; version: string }> {
  if (spec.endsWith('.liquid') || existsSync(spec)) {
    const res = await ctx.client().pushModel(await readPackage(spec))
    return { name: res.model.name, version: res.model.version }
  }
  return parseModelRef(spec)
}

/** `--target` and `--env` as one target (`stm32h743` + `--env staging` → `stm32h743,env=staging`). */
function targetOf(o: DeployFlags): string {
  return [o.target, ...(o.env === undefined ? [] : [`env=${o.env}`])].filter((s) => s !== '').join(',')
}

function deployBody(o: DeployFlags, model: { name: string; version: string }): ApiBody<'/v1/rollouts', 'post'> {
  const target = targetOf(o)
  const inFlight =
    o.batchSize !== undefined
      ? parsePositiveInt(o.batchSize, '--batch-size')
      : o.maxInFlight === undefined
        ? undefined
        : parsePositiveInt(o.maxInFlight, '--max-in-flight')
  const steps =
    o.steps !== undefined
      ? o.steps.split(',').map((s) => ({ percent: parsePercent(s, '--steps') }))
      : o.subset !== undefined
        ? [{ percent: parsePercent(o.subset, '--subset') }]
        : undefined
  const gate =
    o.success === undefined && o.failure === undefined && o.onFailure === undefined
      ? undefined
      : {
          ...(o.success === undefined ? {} : { successThreshold: parseFraction(o.success, '--success') }),
          ...(o.failure === undefined ? {} : { failureThreshold: parseFraction(o.failure, '--failure') }),
          ...(o.onFailure === undefined ? {} : { onFailure: choice(o.onFailure, ['pause', 'rollback'], '--on-failure') }),
        }
  return {
    model,
    target,
    ...(o.strategy === undefined ? {} : { strategy: choice(o.strategy, STRATEGIES, '--strategy') }),
    ...(steps === undefined ? {} : { steps }),
    ...(o.canary === undefined ? {} : { canary: o.canary.split(',').map((s) => s.trim()) }),
    ...(o.canaryCount === undefined ? {} : { canaryCount: parsePositiveInt(o.canaryCount, '--canary-count') }),
    ...(o.bake === undefined ? {} : { bakeMs: parseDurationMs(o.bake, '--bake') }),
    ...(o.name === undefined ? {} : { name: o.name }),
    ...(o.rate === undefined ? {} : { rateLimitPerMin: parsePositiveInt(o.rate, '--rate') }),
    ...(inFlight === undefined ? {} : { maxInFlight: inFlight }),
    ...(o.deadline === undefined ? {} : { stepDeadlineMs: parseDurationMs(o.deadline, '--deadline') }),
    ...(o.trial === undefined && o.fallback === undefined && o.minAccuracy === undefined && o.debug !== true
      ? {}
      : {
          policy: {
            ...(o.trial === undefined ? {} : { trialMs: parseDurationMs(o.trial, '--trial') }),
            ...(o.fallback === undefined ? {} : { fallback: o.fallback === 'none' ? null : parseModelRef(o.fallback) }),
            ...(o.minAccuracy === undefined
              ? {}
              : { minAccuracy: o.minAccuracy === 'none' ? null : parseFraction(o.minAccuracy, '--min-accuracy') }),
            ...(o.debug === true ? { debug: true } : {}),
          },
        }),
    ...(o.stratify === undefined ? {} : { stratifyBy: o.stratify }),
    ...(gate === undefined ? {} : { gate }),
    supersede: o.supersede === true,
  }
}

async function finish(ctx: Context, r: RolloutInfo, wait: boolean, timeout: string, until: Until = 'settled'): Promise<number> {
  if (!wait) {
    ctx.print(r, () => rolloutLine(r))
    return EXIT.OK
  }
  const settled = await waitForRollout(ctx.client(), r.id, ctx.io, {
    timeoutMs: parseDurationMs(timeout, '--timeout'),
    quiet: ctx.json,
    until,
  })
  ctx.print(settled, () => rolloutLine(settled))
  return settledExit(settled, until)
}

export function registerRolloutCommands(program: Command, ctx: Context, setExit: (code: number) => void): void {
  program
    .command('deploy')
    .description('roll a model out to a target')
    .requiredOption('--target <target>', TARGET_HELP)
    .requiredOption('--model <model>', 'a .liquid file (pushed first) or name@version')
    .option('--subset <percent>', 'deploy to this share only, e.g. 25%')
    .option('--steps <percents>', 'rolling steps, e.g. 25,50,100')
    .option('--strategy <strategy>', `${STRATEGIES.join('|')} (default: rolling; blue-green when the target is a colour group)`)
    .option('--canary <ids>', 'canary devices, comma-separated')
    .option('--canary-count <n>', 'canary: this many devices first')
    .option('--bake <duration>', 'hold each step this long after it succeeds, e.g. 10m')
    .option('--batch-size <n>', 'at most n devices in flight (downloading, installing, in trial) at once within each step')
    .option('--env <env>', 'adds env=<env> to the target')
    .option('--name <name>', 'a name (blue-green: the colour, e.g. production-green)')
    .option('--rate <perMinute>', 'at most this many devices per minute')
    .option('--max-in-flight <n>', 'the same as --batch-size')
    .option('--deadline <duration>', 'per-step deadline after which silence counts', '10m')
    .option(
      '--trial <duration>',
      "how long each device runs the new model in trial before confirming it (default: the controller's LLN_ROLLOUT_TRIAL_MS, 1m)",
    )
    .option(
      '--fallback <name@version|none>',
      "where a device with no previous model goes if this release is rolled back or aborted (default 'none': it unloads the model)",
    )
    .option(
      '--min-accuracy <share|none>',
      "the accuracy gate: roll back when devices evaluating the package's labelled set score below this, e.g. 0.8 or 80% (default: the package's minimum; 'none': no gate)",
    )
    .option('--success <share>', 'success threshold, e.g. 90%')
    .option('--failure <share>', 'failure threshold, e.g. 10%')
    .option('--on-failure <action>', 'pause|rollback')
    .option('--stratify <label>', 'take each step within every value of this label (e.g. hw)')
    .option('--supersede', 'replace active rollouts on the same devices')
    .option('--debug', "verbose agent logs for this release: 'logs --follow' shows each telemetry window, update step and failure")
    .option('--wait', 'wait until the rollout settles, showing progress (the default)')
    .option('--no-wait', 'return as soon as the rollout is created')
    .option(
      '--until <point>',
      "with --wait: 'settled' (default), or 'baking': return (exit 0) once a step's devices run the release and it bakes, the rules judging it",
    )
    .option('--timeout <duration>', 'with --wait: give up after', '30m')
    .action(async (o: DeployFlags) => {
      const until = o.until === undefined ? 'settled' : choice(o.until, UNTIL, '--until')
      // The target first: a deploy refused for its target pushes nothing to the model store.
      const api = ctx.client()
      const picked = await api.ok(api.http.GET('/v1/targets/resolve', { params: { query: { target: targetOf(o) } } }))
      if (picked.devices.length === 0)
        throw new CliError(`the target '${targetOf(o)}' selects no registered devices`, EXIT.NOT_FOUND, 'ROLLOUT_NO_DEVICES')
      const model = await resolveModel(ctx, o.model)
      const r = await api.ok(api.http.POST('/v1/rollouts', { body: deployBody(o, model) }))
      setExit(await finish(ctx, r, o.wait !== false, o.timeout, until))
    })
  program
    .command('status')
    .description('fleet summary and devices')
    .option('--target <target>', TARGET_HELP)
    .option('--metric <metric>', 'ask the devices: storage|memory|slots')
    .option('--timeout <duration>', 'with --metric: how long to wait for the devices', '10s')
    .option('--allow-unreachable', 'with --metric: list unreachable devices without failing')
    .action(async (o: { target?: string; metric?: string; timeout: string; allowUnreachable?: boolean }) => {
      if (o.metric !== undefined) {
        // The runbook's status verb: device ids or selectors, a timeout, unreachable devices listed, a verdict.
        setExit(
          await runStatusMetric(ctx, { target: o.target, metric: o.metric, timeout: o.timeout, allowUnreachable: o.allowUnreachable }),
        )
        return
      }
      const api = ctx.client()
      const res = await api.ok(api.http.GET('/v1/status', { params: { query: o.target === undefined ? {} : { target: o.target } } }))
      ctx.print(
        res,
        () =>
          `${Object.entries(res.summary)
            .map(
              ([k, v]) =>
                `${k}: ${Object.entries(v)
                  .map(([a, n]) => `${a} ${n}`)
                  .join(', ')}`,
            )
            .join('\n')}\n\n${deviceTable(res.devices)}`,
      )
    })
  registerRollbackCommands(program, ctx, setExit)
  registerRolloutGroup(program, ctx)
}

function registerRollbackCommands(program: Command, ctx: Context, setExit: (code: number) => void): void {
  program
    .command('rollback')
    .description('roll back (skips gates, touches only devices not already there, safe to repeat)')
    .option('--target <target>', TARGET_HELP)
    .option('--rollout <id>', 'the devices a rollout touched')
    .option('--device <id>', 'one device')
    .option('--to-previous', 'to the model each device ran before')
    .option('--to-version <version>', 'to this version (1.2.3 or v1.2.3)')
    .option('--model <name>', 'with --to-version: the model name when the scope does not imply it')
    .option('--wait', 'wait until the rollback settles')
    .option('--timeout <duration>', 'with --wait: give up after', '30m')
    .action(
      async (o: {
        target?: string
        rollout?: string
        device?: string
        toPrevious?: boolean
        toVersion?: string
        model?: string
        wait?: boolean
        timeout: string
      }) => {
        const scopes = [o.target, o.rollout, o.device].filter((x) => x !== undefined).length
        if (scopes !== 1) throw new CliError('give exactly one of --target, --rollout and --device', EXIT.USAGE, 'CLI_BAD_FLAG')
        if ((o.toPrevious === true) === (o.toVersion !== undefined))
          throw new CliError('give exactly one of --to-previous and --to-version', EXIT.USAGE, 'CLI_BAD_FLAG')
        const body = {
          ...(o.target === undefined ? {} : { target: o.target }),
          ...(o.rollout === undefined ? {} : { rolloutId: o.rollout }),
          ...(o.device === undefined ? {} : { deviceId: o.device }),
          ...(o.toVersion === undefined ? { toPrevious: true } : { toVersion: parseVersion(o.toVersion) }),
          ...(o.model === undefined ? {} : { model: o.model }),
        }
        const api = ctx.client()
        const res = await api.ok(api.http.POST('/v1/rollback', { body }))
        if (res.rollout === null) {
          ctx.print(res, () => `nothing to roll back: ${res.unchanged} devices already there\n`)
          return
        }
        if (ctx.json && o.wait !== true) {
          ctx.print(res, () => '')
          return
        }
        if (!ctx.json) ctx.io.stdout(`rolling back ${res.touched} devices (${res.unchanged} already there)\n`)
        setExit(await finish(ctx, res.rollout, o.wait === true, o.timeout))
      },
    )
  program
    .command('switch')
    .description('blue-green: make the staged candidate active everywhere')
    .option('--from <name>', 'the colour running now (informational)')
    .option('--to <name>', 'the staged rollout name (or name@version)')
    .option('--rollout <id>', 'the staged rollout id')
    .option('--wait', 'wait until the switch settles')
    .option('--timeout <duration>', 'with --wait: give up after', '30m')
    .action(async (o: { from?: string; to?: string; rollout?: string; wait?: boolean; timeout: string }) => {
      if (o.to === undefined && o.rollout === undefined) throw new CliError('give --to or --rollout', EXIT.USAGE, 'CLI_BAD_FLAG')
      const api = ctx.client()
      const r = await api.ok(
        api.http.POST('/v1/switch', {
          body: {
            ...(o.to === undefined ? {} : { to: o.to }),
            ...(o.from === undefined ? {} : { from: o.from }),
            ...(o.rollout === undefined ? {} : { rolloutId: o.rollout }),
          },
        }),
      )
      setExit(await finish(ctx, r, o.wait === true, o.timeout))
    })
  program
    .command('decommission')
    .description('blue-green: free the old model slot on the target devices')
    .requiredOption('--target <target>', TARGET_HELP)
    .action(async (o: { target: string }) => {
      const api = ctx.client()
      const res = await api.ok(api.http.POST('/v1/decommission', { body: { target: o.target } }))
      ctx.print(res, () =>
        table(
          ['DEVICE', 'RESULT'],
          res.answers.map((a) => [a.deviceId, a.reply === null ? 'no answer' : a.reply.ok ? 'freed' : 'refused']),
        ),
      )
      if (res.answers.some((a) => a.reply?.ok !== true)) setExit(EXIT.ROLLOUT_FAILED)
    })
}

interface ShownRow {
  id: string
  outcome: string
  back: { state: string } | null
  now: { online: boolean | null }
}

/** The devices not converged for want of an answer: offline ones apart from online ones that stayed silent. */
function silentLines(rows: readonly ShownRow[]): string {
  const ids = (ds: readonly ShownRow[]): string => ds.map((d) => d.id).join(', ')
  const offline = rows.filter((d) => (d.back === null ? d.outcome === 'silent' && d.now.online !== true : d.back.state === 'unreachable'))
  const unanswered = rows.filter((d) => d.back === null && d.outcome === 'silent' && d.now.online === true)
  const lines = [
    ...(offline.length === 0
      ? []
      : [
          `${offline.length} devices unreachable (offline); they converge from their retained desired state when they return: ${ids(offline)}`,
        ]),
    ...(unanswered.length === 0
      ? []
      : [
          `${unanswered.length} devices online but silent (no answer in time); the controller keeps sending their desired state: ${ids(unanswered)}`,
        ]),
  ]
  return lines.map((line) => `\n${line}\n`).join('')
}

function registerRolloutGroup(program: Command, ctx: Context): void {
  const rollout = program.command('rollout').description('list and steer rollouts')
  rollout.command('list').action(async () => {
    const api = ctx.client()
    const res = await api.ok(api.http.GET('/v1/rollouts', { params: { query: {} } }))
    ctx.print(res.rollouts, () =>
      table(
        ['ID', 'KIND', 'MODEL', 'STRATEGY', 'STATE', 'STEP', 'OK', 'FAILED', 'SILENT', 'TARGET'],
        res.rollouts.map((r) => [
          r.id,
          r.kind,
          `${r.model.name}@${r.model.version}`,
          r.strategy,
          r.state,
          `${r.step + 1}/${r.steps.length}`,
          r.counts.succeeded + r.counts.skipped,
          r.counts.failed,
          r.counts.silent,
          r.target,
        ]),
      ),
    )
  })
  rollout.command('show <id>').action(async (id: string) => {
    const api = ctx.client()
    const r = await api.ok(api.http.GET('/v1/rollouts/{id}', { params: { path: { id } } }))
    const unreachable = silentLines(r.devices_)
    ctx.print(
      r,
      () =>
        `${rolloutLine(r)}\n${table(
          ['DEVICE', 'STEP', 'GEN', 'OUTCOME', 'ENDED ON', 'WHY'],
          r.devices_.map((d) => [d.id, d.step, d.gen, d.outcome, d.ended, d.why]),
        )}${unreachable}`,
    )
    if (!ctx.json) ctx.io.stdout(await rolloutDecisions(ctx, id))
  })
  for (const action of ['pause', 'resume', 'abort'] as const) {
    rollout.command(`${action} <id>`).action(async (id: string) => {
      const api = ctx.client()
      const r = await api.ok(api.http.POST(`/v1/rollouts/{id}/${action}`, { params: { path: { id } } }))
      ctx.print(r, () => rolloutLine(r))
    })
  }
}
