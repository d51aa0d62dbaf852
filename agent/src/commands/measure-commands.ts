import { statfs } from 'node:fs/promises'
import { freemem, totalmem } from 'node:os'
import * as z from 'zod'
import { FleetError, type CommandOf, type CommandResult, type PackageManifest, type TelemetryBody } from '@liquid-edge/protocol'
import type { AgentInternals } from '../internals.js'
import type { SlotName } from '../ports.js'
import { otherSlot, reportedSlots } from '../state/agent-state.js'
import { runGolden } from '../update/slots.js'

type Check = Extract<CommandResult, { kind: 'verify' }>['checks'][number]

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

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0
}

function quantiles(values: number[]): { samples: number; mean: number; p50: number; p95: number; p99: number; max: number } {
  const sorted = Float64Array.from(values).sort()
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length)
  return {
    samples: values.length,
    mean,
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    max: quantile(sorted, 1),
  }
}

/** Run `samples` inferences cycling through the golden inputs; latency (ms), energy (mJ) and power (mW) per sample. */
async function sample(ai: AgentInternals, slot: SlotName, manifest: PackageManifest, until: { samples?: number; durationMs?: number }) {
  const latency: number[] = []
  const energy: number[] = []
  const power: number[] = []
  const outputs: Float32Array[] = []
  const deadline = until.durationMs === undefined ? Infinity : ai.clock.now() + until.durationMs
  const max = until.samples ?? 1_000_000
  for (let i = 0; i < max && ai.clock.now() < deadline; i++) {
    const g = manifest.golden[i % manifest.golden.length]
    if (g === undefined) break
    const r = await ai.probe(Float32Array.from(g.input), slot)
    latency.push(r.latencyMs)
    if (r.energyMj !== null) energy.push(r.energyMj)
    if (r.energyMj !== null && r.latencyMs > 0) power.push(r.energyMj / (r.latencyMs / 1000))
    if (i < manifest.golden.length) outputs.push(r.output)
  }
  return { latency, energy, power, outputs }
}

/**
 * The energy budget is the average power at the device's own workload, not the draw during
 * back-to-back inference. Project it from the last telemetry window — its average power, its
 * inference rate and the energy per inference of what ran — by swapping in the energy per
 * inference measured for `target`. `null` when the device has no window with power in it yet.
 */
function projectedPowerMw(window: TelemetryBody | null, targetMj: number | null, sameModel: boolean): number | null {
  if (window === null || window.energy === null) return null
  const { avgMw, perInferenceMj } = window.energy
  const ratePerS = window.inferences / (window.windowMs / 1000)
  if (ratePerS === 0 || sameModel) return avgMw
  if (targetMj === null || perInferenceMj === null) return null
  return Math.max(0, avgMw + ratePerS * (targetMj - perInferenceMj))
}

function energyCheck(ai: AgentInternals, manifest: PackageManifest, energyMj: number[]): Check {
  const budget = manifest.energyBudgetMw
  if (budget === null) return { name: 'energy', passed: true, observed: null, threshold: null, detail: 'no energy budget' }
  const window = ai.lastWindow
  const targetMj = energyMj.length === 0 ? null : quantiles(energyMj).mean
  const sameModel = window?.model?.name === manifest.name && window.model.version === manifest.version
  const observed = projectedPowerMw(window, targetMj, sameModel)
  if (observed === null)
    return {
      name: 'energy',
      passed: true,
      observed: null,
      threshold: budget,
      detail: 'energy not measurable: no telemetry window with power yet',
    }
  const rate = window === null ? 0 : window.inferences / (window.windowMs / 1000)
  return {
    name: 'energy',
    passed: observed <= budget,
    observed,
    threshold: budget,
    detail: `average power at this device's workload (${rate.toFixed(1)} inferences/s)`,
  }
}

function argmax(v: ArrayLike<number>): number {
  let best = 0
  for (let i = 1; i < v.length; i++) if ((v[i] ?? -Infinity) > (v[best] ?? -Infinity)) best = i
  return best
}

export async function verify(ai: AgentInternals, cmd: CommandOf<'verify'>): Promise<CommandResult> {
  const { slot, manifest } = verifyTarget(ai)
  const checks: Check[] = []
  const golden = await runGolden(ai, slot, manifest)
  checks.push({ name: 'golden', passed: golden.passed, observed: golden.maxAbsError, threshold: manifest.tolerance, detail: golden.detail })
  if (cmd.suite !== 'smoke') {
    const run = await sample(ai, slot, manifest, { samples: cmd.samples })
    const q = quantiles(run.latency)
    checks.push({
      name: 'latency-p95',
      passed: q.p95 <= manifest.latencyThresholdMs,
      observed: q.p95,
      threshold: manifest.latencyThresholdMs,
    })
    checks.push(energyCheck(ai, manifest, run.energy))
  }
  if ((cmd.suite === 'production' || cmd.suite === 'full') && ai.state.active !== null && ai.state.active !== slot) {
    const active = activeSlot(ai)
    let agree = 0
    for (const g of manifest.golden) {
      const input = Float32Array.from(g.input)
      const [a, b] = await Promise.all([ai.probe(input, slot), ai.probe(input, active.slot)])
      if (argmax(a.output) === argmax(b.output)) agree++
    }
    const ratio = agree / manifest.golden.length
    checks.push({ name: 'agreement-with-active', passed: ratio >= 0.9, observed: ratio, threshold: 0.9 })
  }
  return { kind: 'verify', suite: cmd.suite, passed: checks.every((c) => c.passed), modelVersion: manifest.version, checks }
}

export async function profile(ai: AgentInternals, cmd: CommandOf<'profile'>): Promise<CommandResult> {
  const { slot, manifest } = activeSlot(ai)
  const until = cmd.samples !== undefined ? { samples: cmd.samples } : { durationMs: cmd.durationMs ?? 1000 }
  const run = await sample(ai, slot, manifest, until)
  const values = cmd.metric === 'latency' ? run.latency : run.power
  return {
    kind: 'profile',
    metric: cmd.metric,
    unit: cmd.metric === 'latency' ? 'ms' : 'mW',
    modelVersion: manifest.version,
    quantiles: values.length === 0 ? null : quantiles(values),
  }
}

const EvaluationSetSchema = z.object({
  samples: z
    .array(z.object({ input: z.array(z.number()), label: z.number().int().nonnegative() }))
    .min(1)
    .max(100_000),
})

export async function evaluate(ai: AgentInternals, cmd: CommandOf<'evaluate'>): Promise<CommandResult> {
  const { slot, manifest } = activeSlot(ai)
  let samples
  if (cmd.url !== undefined) {
    const res = await fetch(cmd.url, { signal: AbortSignal.timeout(30_000) })
    if (!res.ok) throw new FleetError('AGENT_DOWNLOAD_FAILED', `evaluation set: HTTP ${res.status}`, { retryable: true })
    const parsed = EvaluationSetSchema.safeParse(await res.json())
    if (!parsed.success) throw new FleetError('AGENT_PACKAGE_INVALID', `evaluation set is invalid: ${z.prettifyError(parsed.error)}`)
    samples = parsed.data.samples
  } else {
    const set = manifest.evaluation
    if (set === undefined || (cmd.dataset !== set.name && cmd.dataset !== 'validation')) {
      throw new FleetError('AGENT_PACKAGE_INVALID', `the model package has no evaluation set '${cmd.dataset}'`)
    }
    samples = set.samples
  }
  const inLen = manifest.input.shape.reduce((a, b) => a * b, 1)
  let correct = 0
  for (const s of samples) {
    if (s.input.length !== inLen)
      throw new FleetError('AGENT_INPUT_SHAPE', `evaluation input has ${s.input.length} values, expected ${inLen}`)
    const r = await ai.probe(Float32Array.from(s.input), slot)
    if (argmax(r.output) === s.label) correct++
  }
  return {
    kind: 'evaluate',
    dataset: cmd.dataset,
    modelVersion: manifest.version,
    samples: samples.length,
    correct,
    accuracy: correct / samples.length,
  }
}

export async function status(ai: AgentInternals, cmd: CommandOf<'status'>): Promise<CommandResult> {
  const s = ai.state
  if (cmd.metric === 'slots') return { kind: 'status', slots: reportedSlots(s) }
  if (cmd.metric === 'memory') {
    const m = process.memoryUsage()
    return {
      kind: 'status',
      memory: { rssBytes: m.rss, heapUsedBytes: m.heapUsed, systemTotalBytes: totalmem(), systemFreeBytes: freemem() },
    }
  }
  const used = (s.slots.a?.size ?? 0) + (s.slots.b?.size ?? 0)
  const sensors = await ai.driver.readSensors().catch(() => null)
  let storage = sensors?.storage ?? null
  if (storage === null) {
    const fs = await statfs(ai.stateDir)
    storage = { totalBytes: fs.blocks * fs.bsize, freeBytes: fs.bavail * fs.bsize }
  }
  return { kind: 'status', storage: { ...storage, usedByModelsBytes: used } }
}

export function ping(ai: AgentInternals): CommandResult {
  return { kind: 'ping', uptimeMs: ai.clock.now() - ai.startedAt, agentVersion: ai.agentVersion }
}
