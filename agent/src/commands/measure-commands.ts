import * as z from 'zod'
import {
  FleetError,
  addLatency,
  emptyLatency,
  latencyMean,
  latencyQuantiles,
  type CommandOf,
  type CommandResult,
  type LatencyAcc,
  type PackageManifest,
} from '@liquid-edge/protocol'
import type { AgentInternals } from '../internals.js'
import type { SlotName } from '../ports.js'
import { otherSlot } from '../state/agent-state.js'
import { runGolden } from '../update/slots.js'
import { agreementCheck, budgetsOf, energyCheck, goldenCheck, limitCheck, type Check } from './checks.js'
import type { MeasureSession } from './measure-session.js'

type Quantiles = NonNullable<Extract<CommandResult, { kind: 'profile' }>['quantiles']>

function activeSlot(ai: AgentInternals): { slot: SlotName; manifest: PackageManifest } {
  const slot = ai.state.active
  const manifest = slot === null ? null : ai.manifests[slot]
  if (slot === null || manifest === null) throw new FleetError('AGENT_NO_MODEL', 'no model is active on this device')
  return { slot, manifest }
}

/** The model a verify targets: the staged candidate when there is one, else the active model. */
function verifyTarget(ai: AgentInternals): { slot: SlotName; manifest: PackageManifest } {
  const s = ai.state
  if (s.standby === 'staged' && s.active !== null) {
    const slot = otherSlot(s.active)
    const manifest = ai.manifests[slot]
    if (manifest !== null) return { slot, manifest }
  }
  return activeSlot(ai)
}

/** The quantile summary of an accumulator (latency in ms, or power in mW: the same log buckets serve both). */
function summary(acc: LatencyAcc): Quantiles | null {
  const q = latencyQuantiles(acc)
  return q === null ? null : { samples: acc.count, mean: latencyMean(acc) ?? 0, ...q }
}

/** What a sampling run measured: latency (ms), power while inferring (mW), energy per inference (mJ). */
interface Run {
  latency: LatencyAcc
  power: LatencyAcc
  energy: LatencyAcc
}

/**
 * Paced inferences cycling through the golden inputs, until `samples` ran, `durationMs` passed or
 * the session stops; `onProgress` may send what was measured so far.
 */
async function sample(
  session: MeasureSession,
  slot: SlotName,
  manifest: PackageManifest,
  until: { samples?: number; durationMs?: number },
  onProgress?: (run: Run) => Promise<void>,
): Promise<Run> {
  const run: Run = { latency: emptyLatency(), power: emptyLatency(), energy: emptyLatency() }
  const max = until.samples ?? Infinity
  const endMs = until.durationMs ?? Infinity
  for (let i = 0; i < max && session.elapsedMs < endMs; i++) {
    const g = manifest.golden[i % manifest.golden.length]
    if (g === undefined) break
    const r = await session.probe(Float32Array.from(g.input), slot)
    addLatency(run.latency, r.latencyMs)
    if (r.energyMj !== null) {
      addLatency(run.energy, r.energyMj)
      if (r.latencyMs > 0) addLatency(run.power, r.energyMj / (r.latencyMs / 1000))
    }
    await onProgress?.(run)
  }
  return run
}

export async function verify(ai: AgentInternals, cmd: CommandOf<'verify'>, session: MeasureSession): Promise<CommandResult> {
  const { slot, manifest } = verifyTarget(ai)
  const budgets = budgetsOf(manifest, ai.driver.hardware)
  // The device's own workload, before this verify's measuring adds to it.
  const workload = ai.lastWindow
  const checks: Check[] = [goldenCheck(await runGolden(ai, slot, manifest, budgets.latencyThresholdMs), manifest.tolerance)]
  if (cmd.suite !== 'smoke') {
    const run = await sample(session, slot, manifest, { samples: cmd.samples })
    checks.push(limitCheck('latency-p95', summary(run.latency)?.p95 ?? null, budgets.latencyThresholdMs))
    checks.push(energyCheck(workload, manifest, budgets, latencyMean(run.energy)))
  }
  if ((cmd.suite === 'production' || cmd.suite === 'full') && ai.state.active !== null && ai.state.active !== slot) {
    const active = activeSlot(ai)
    let agree = 0
    for (const g of manifest.golden) {
      const input = Float32Array.from(g.input)
      const a = await session.probe(input, slot)
      const b = await session.probe(input, active.slot)
      if (argmax(a.output) === argmax(b.output)) agree++
    }
    checks.push(agreementCheck(agree / manifest.golden.length, cmd.minAgreement ?? null))
  }
  return { kind: 'verify', suite: cmd.suite, passed: checks.every((c) => c.passed), modelVersion: manifest.version, checks }
}

export async function profile(ai: AgentInternals, cmd: CommandOf<'profile'>, session: MeasureSession): Promise<CommandResult> {
  const { slot, manifest } = activeSlot(ai)
  const until = cmd.samples !== undefined ? { samples: cmd.samples } : { durationMs: cmd.durationMs ?? 1000 }
  const result = (run: Run): CommandResult => {
    const latencyMs = summary(run.latency)
    const powerMw = summary(run.power)
    return {
      kind: 'profile',
      metric: cmd.metric,
      unit: cmd.metric === 'latency' ? 'ms' : 'mW',
      modelVersion: manifest.version,
      quantiles: cmd.metric === 'latency' ? latencyMs : powerMw,
      latencyMs,
      powerMw,
      elapsedMs: session.elapsedMs,
    }
  }
  return result(await sample(session, slot, manifest, until, (run) => session.partial(() => result(run))))
}

function argmax(v: ArrayLike<number>): number {
  let best = 0
  for (let i = 1; i < v.length; i++) if ((v[i] ?? -Infinity) > (v[best] ?? -Infinity)) best = i
  return best
}

const EvaluationSetSchema = z.object({
  samples: z
    .array(z.object({ input: z.array(z.number()), label: z.number().int().nonnegative() }))
    .min(1)
    .max(100_000),
})

async function evaluationSamples(manifest: PackageManifest, cmd: CommandOf<'evaluate'>): Promise<{ input: number[]; label: number }[]> {
  if (cmd.url !== undefined) {
    const res = await fetch(cmd.url, { signal: AbortSignal.timeout(30_000) })
    if (!res.ok) throw new FleetError('AGENT_DOWNLOAD_FAILED', `evaluation set: HTTP ${res.status}`, { retryable: true })
    const parsed = EvaluationSetSchema.safeParse(await res.json())
    if (!parsed.success) throw new FleetError('AGENT_PACKAGE_INVALID', `evaluation set is invalid: ${z.prettifyError(parsed.error)}`)
    return parsed.data.samples
  }
  const set = manifest.evaluation
  if (set === undefined || (cmd.dataset !== set.name && cmd.dataset !== 'validation')) {
    const has = set === undefined ? 'it carries none' : `it carries '${set.name}' (ask for it by that name or as 'validation')`
    throw new FleetError('AGENT_NO_DATASET', `${manifest.name}@${manifest.version} has no evaluation set '${cmd.dataset}': ${has}`, {
      details: { dataset: cmd.dataset, available: set?.name ?? null },
    })
  }
  return set.samples
}

export async function evaluate(ai: AgentInternals, cmd: CommandOf<'evaluate'>, session: MeasureSession): Promise<CommandResult> {
  const { slot, manifest } = activeSlot(ai)
  const samples = await evaluationSamples(manifest, cmd)
  const inLen = manifest.input.shape.reduce((a, b) => a * b, 1)
  const result = (done: number, correct: number): CommandResult => ({
    kind: 'evaluate',
    dataset: cmd.dataset,
    modelVersion: manifest.version,
    samples: done,
    correct,
    accuracy: done === 0 ? 0 : correct / done,
  })
  let correct = 0
  for (const [i, s] of samples.entries()) {
    if (s.input.length !== inLen)
      throw new FleetError('AGENT_INPUT_SHAPE', `evaluation input has ${s.input.length} values, expected ${inLen}`)
    const r = await session.probe(Float32Array.from(s.input), slot)
    if (argmax(r.output) === s.label) correct++
    await session.partial(() => result(i + 1, correct))
  }
  if (cmd.url === undefined) ai.recordEvaluation(samples.length, correct)
  return result(samples.length, correct)
}
