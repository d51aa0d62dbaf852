import { existsSync } from 'node:fs'
import type { Command } from 'commander'
import { CliError, EXIT } from './client.js'
import type { Context } from './context.js'
import { deviceTable, readPackage } from './device-commands.js'
import { table } from './output.js'
import { parseDurationMs, parseFraction, parseModelRef, parsePercent, parsePositiveInt } from './parse.js'
import { waitForRollout, type RolloutInfo } from './wait.js'
import { runStatusMetric } from '../runbook/cli.js'
import { rolloutDecisions } from '../telemetry/monitor-cli.js'

interface DeployFlags {
  target: string
  model: string
  subset?: string
  steps?: string
  strategy: string
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
  success?: string
  failure?: string
  onFailure?: string
  stratify?: string
  supersede?: boolean
  wait?: boolean
  timeout: string
}

const STRATEGIES = ['rolling', 'canary', 'blue-green', 'all']

function rolloutLine(r: RolloutInfo): string {
  const c = r.counts
  return `${r.id}  ${r.kind} ${r.model.name}@${r.model.version}  ${r.state}${r.reason === null ? '' : ` (${r.reason})`}\n  step ${r.step + 1}/${r.steps.length}  succeeded ${c.succeeded + c.skipped}  failed ${c.failed}  silent ${c.silent}  pending ${c.pending}  of ${c.targeted} targeted\n`
}

/** Exit code of a settled rollout: 0 when it did what was asked. */
function settledExit(r: RolloutInfo): number {
  return r.state === 'completed' || r.state === 'staged' ? EXIT.OK : EXIT.ROLLOUT_FAILED
}

async function resolveModel(ctx: Context, spec: string): Promise<{ name: string; version: string }> {
  if (spec.endsWith('.liquid') || existsSync(spec)) {
    const res = await ctx.client().call<{ model: { name: string; version: string } }>('POST', '/v1/models', await readPackage(spec))
    return { name: res.model.name, version: res.model.version }
  }
  return parseModelRef(spec)
}

function deployBody(o: DeployFlags, model: { name: string; version: string }): Record<string, unknown> {
  if (!STRATEGIES.includes(o.strategy)) throw new CliError(`--strategy must be one of ${STRATEGIES.join(', ')}`, EXIT.USAGE, 'CLI_BAD_FLAG')
  const target = [o.target, ...(o.env === undefined ? [] : [`env=${o.env}`])].filter((s) => s !== '').join(',')
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
          ...(o.onFailure === undefined ? {} : { onFailure: o.onFailure }),
        }
  return {
    model,
    target,
    strategy: o.strategy,
    ...(steps === undefined ? {} : { steps }),
    ...(o.canary === undefined ? {} : { canary: o.canary.split(',').map((s) => s.trim()) }),
    ...(o.canaryCount === undefined ? {} : { canaryCount: parsePositiveInt(o.canaryCount, '--canary-count') }),
    ...(o.bake === undefined ? {} : { bakeMs: parseDurationMs(o.bake, '--bake') }),
    ...(o.batchSize === undefined ? {} : { batchSize: parsePositiveInt(o.batchSize, '--batch-size') }),
    ...(o.name === undefined ? {} : { name: o.name }),
    ...(o.rate === undefined ? {} : { rateLimitPerMin: parsePositiveInt(o.rate, '--rate') }),
    ...(o.maxInFlight === undefined ? {} : { maxInFlight: parsePositiveInt(o.maxInFlight, '--max-in-flight') }),
    ...(o.deadline === undefined ? {} : { stepDeadlineMs: parseDurationMs(o.deadline, '--deadline') }),
    ...(o.trial === undefined ? {} : { policy: { trialMs: parseDurationMs(o.trial, '--trial') } }),
    ...(o.stratify === undefined ? {} : { stratifyBy: o.stratify }),
    ...(gate === undefined ? {} : { gate }),
    supersede: o.supersede === true,
  }
}

async function finish(ctx: Context, r: RolloutInfo, wait: boolean, timeout: string): Promise<number> {
  if (!wait) {
    ctx.print(r, () => rolloutLine(r))
    return EXIT.OK
  }
  const settled = await waitForRollout(ctx.client(), r.id, ctx.io, parseDurationMs(timeout, '--timeout'))
  ctx.print(settled, () => rolloutLine(settled))
  return settledExit(settled)
}

export function registerRolloutCommands(program: Command, ctx: Context, setExit: (code: number) => void): void {
  program
    .command('deploy')
    .description('roll a model out to a target')
    .requiredOption('--target <selector>', 'label selector or group, e.g. stm32h743 or env=production,hw=rpi4')
    .requiredOption('--model <model>', 'a .liquid file (pushed first) or name@version')
    .option('--subset <percent>', 'deploy to this share only, e.g. 25%')
    .option('--steps <percents>', 'rolling steps, e.g. 25,50,100')
    .option('--strategy <strategy>', STRATEGIES.join('|'), 'rolling')
    .option('--canary <ids>', 'canary devices, comma-separated')
    .option('--canary-count <n>', 'canary: this many devices first')
    .option('--bake <duration>', 'hold each step this long after it succeeds, e.g. 10m')
    .option('--batch-size <n>', 'rolling in batches of n devices')
    .option('--env <env>', 'adds env=<env> to the target')
    .option('--name <name>', 'a name (blue-green: the colour, e.g. production-green)')
    .option('--rate <perMinute>', 'at most this many devices per minute')
    .option('--max-in-flight <n>', 'at most n devices updating at once')
    .option('--deadline <duration>', 'per-step deadline after which silence counts', '10m')
    .option('--trial <duration>', 'how long each device runs the new model in trial before confirming it (default 1m)')
    .option('--success <share>', 'success threshold, e.g. 90%')
    .option('--failure <share>', 'failure threshold, e.g. 10%')
    .option('--on-failure <action>', 'pause|rollback')
    .option('--stratify <label>', 'take each step within every value of this label (e.g. hw)')
    .option('--supersede', 'replace active rollouts on the same devices')
    .option('--wait', 'wait until the rollout settles, showing progress')
    .option('--timeout <duration>', 'with --wait: give up after', '30m')
    .action(async (o: DeployFlags) => {
      const model = await resolveModel(ctx, o.model)
      const r = await ctx.client().call<RolloutInfo>('POST', '/v1/rollouts', deployBody(o, model))
      setExit(await finish(ctx, r, o.wait === true, o.timeout))
    })
  program
    .command('status')
    .description('fleet summary and devices')
    .option('--target <selector>', 'label selector')
    .option('--metric <metric>', 'ask the devices: storage|memory|slots')
    .option('--timeout <duration>', 'with --metric: how long to wait for the devices', '10s')
    .option('--allow-unreachable', 'with --metric: list unreachable devices without failing')
    .action(async (o: { target?: string; metric?: string; timeout: string; allowUnreachable?: boolean }) => {
      if (o.metric !== undefined) {
        // The runbook's status verb (#9): device ids or selectors, a timeout, unreachable devices listed, a verdict.
        setExit(
          await runStatusMetric(ctx, { target: o.target, metric: o.metric, timeout: o.timeout, allowUnreachable: o.allowUnreachable }),
        )
        return
      }
      const q = o.target === undefined ? '' : `?target=${encodeURIComponent(o.target)}`
      const res = await ctx
        .client()
        .call<{ summary: Record<string, Record<string, number>>; devices: Parameters<typeof deviceTable>[0] }>('GET', `/v1/status${q}`)
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
    .option('--target <selector>', 'devices by selector')
    .option('--rollout <id>', 'the devices a rollout touched')
    .option('--device <id>', 'one device')
    .option('--to-previous', 'to the model each device ran before')
    .option('--to-version <version>', 'to this version')
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
          ...(o.toVersion === undefined ? { toPrevious: true } : { toVersion: o.toVersion }),
          ...(o.model === undefined ? {} : { model: o.model }),
        }
        const res = await ctx
          .client()
          .call<{ rollout: RolloutInfo | null; touched: number; unchanged: number }>('POST', '/v1/rollback', body)
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
      const r = await ctx.client().call<RolloutInfo>('POST', '/v1/switch', {
        ...(o.to === undefined ? {} : { to: o.to }),
        ...(o.from === undefined ? {} : { from: o.from }),
        ...(o.rollout === undefined ? {} : { rolloutId: o.rollout }),
      })
      setExit(await finish(ctx, r, o.wait === true, o.timeout))
    })
  program
    .command('decommission')
    .description('blue-green: free the old model slot on the target devices')
    .requiredOption('--target <selector>', 'label selector')
    .action(async (o: { target: string }) => {
      const res = await ctx
        .client()
        .call<{ answers: { deviceId: string; reply: { ok: boolean } | null }[] }>('POST', '/v1/decommission', { target: o.target })
      ctx.print(res, () =>
        table(
          ['DEVICE', 'RESULT'],
          res.answers.map((a) => [a.deviceId, a.reply === null ? 'no answer' : a.reply.ok ? 'freed' : 'refused']),
        ),
      )
      if (res.answers.some((a) => a.reply?.ok !== true)) setExit(EXIT.ROLLOUT_FAILED)
    })
}

function registerRolloutGroup(program: Command, ctx: Context): void {
  const rollout = program.command('rollout').description('list and steer rollouts')
  rollout.command('list').action(async () => {
    const res = await ctx.client().call<{ rollouts: RolloutInfo[] }>('GET', '/v1/rollouts')
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
    const r = await ctx
      .client()
      .call<RolloutInfo & { devices_: { id: string; outcome: string; gen: number | null; step: number; error: string | null }[] }>(
        'GET',
        `/v1/rollouts/${encodeURIComponent(id)}`,
      )
    ctx.print(
      r,
      () =>
        `${rolloutLine(r)}\n${table(
          ['DEVICE', 'STEP', 'GEN', 'OUTCOME', 'ERROR'],
          r.devices_.map((d) => [d.id, d.step, d.gen, d.outcome, d.error]),
        )}`,
    )
    if (!ctx.json) ctx.io.stdout(await rolloutDecisions(ctx, id))
  })
  for (const action of ['pause', 'resume', 'abort'] as const) {
    rollout.command(`${action} <id>`).action(async (id: string) => {
      const r = await ctx.client().call<RolloutInfo>('POST', `/v1/rollouts/${encodeURIComponent(id)}/${action}`)
      ctx.print(r, () => rolloutLine(r))
    })
  }
}
