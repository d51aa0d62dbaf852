import type { CommandResult } from '@liquid-edge/protocol'
import { commonReasons, verdictOf, type ReportBase } from '../report.js'
import type { EvaluateRequest, ScenarioRequest, VerifyRequest } from '../requests.js'
import { round } from '../stats.js'
import { fanOut, manifestOf, modelOf, type RunbookContext } from './context.js'

type VerifyResult = Extract<CommandResult, { kind: 'verify' }>
type EvaluateResult = Extract<CommandResult, { kind: 'evaluate' }>

export interface VerifyReport extends ReportBase {
  suite: string
  results: { deviceId: string; hardware: string; modelVersion: string; passed: boolean; checks: VerifyResult['checks'] }[]
  passed: number
  failed: number
}

/** `verify`: the agents run a suite; pass only when every reachable device passed (and none is unreachable, unless allowed). */
export async function verify(ctx: RunbookContext, req: VerifyRequest): Promise<VerifyReport> {
  const f = await fanOut<VerifyResult>(ctx, 'verify', req, { kind: 'verify', suite: req.suite, samples: req.samples, expiresAt: 0 })
  const results = f.ok.map(({ device, result }) => ({
    deviceId: device.id,
    hardware: device.hardware,
    modelVersion: result.modelVersion,
    passed: result.passed,
    checks: result.checks,
  }))
  const { fail, note } = commonReasons(f.base, req)
  for (const r of results.filter((x) => !x.passed)) {
    fail.push(
      `${r.deviceId} failed ${r.checks
        .filter((c) => !c.passed)
        .map((c) => c.name)
        .join(', ')}`,
    )
  }
  return {
    ...f.base,
    suite: req.suite,
    results,
    passed: results.filter((r) => r.passed).length,
    failed: results.filter((r) => !r.passed).length + f.base.errors.length,
    verdict: verdictOf(fail),
    reasons: [...fail, ...note],
  }
}

export interface EvaluateReport extends ReportBase {
  dataset: string
  minAccuracy: number | null
  overall: { samples: number; correct: number; accuracy: number | null }
  results: {
    deviceId: string
    hardware: string
    modelVersion: string
    samples: number
    accuracy: number
    minAccuracy: number | null
    passed: boolean
  }[]
}

/** `evaluate`: accuracy per device and overall against the model's minimum (or `minAccuracy`). */
export async function evaluate(ctx: RunbookContext, req: EvaluateRequest): Promise<EvaluateReport> {
  const f = await fanOut<EvaluateResult>(ctx, 'evaluate', req, { kind: 'evaluate', dataset: req.dataset, expiresAt: 0 })
  const results = await Promise.all(
    f.ok.map(async ({ device, result }) => {
      const manifest = await manifestOf(ctx.models, modelOf(device, result.modelVersion))
      const min = req.minAccuracy ?? manifest?.evaluation?.minAccuracy ?? null
      return {
        deviceId: device.id,
        hardware: device.hardware,
        modelVersion: result.modelVersion,
        samples: result.samples,
        accuracy: round(result.accuracy) ?? 0,
        minAccuracy: min,
        passed: min === null || result.accuracy >= min,
      }
    }),
  )
  const samples = f.ok.reduce((a, x) => a + x.result.samples, 0)
  const correct = f.ok.reduce((a, x) => a + x.result.correct, 0)
  const mins = results.map((r) => r.minAccuracy).filter((m): m is number => m !== null)
  const minAccuracy = req.minAccuracy ?? (mins.length === 0 ? null : Math.max(...mins))
  const accuracy = samples === 0 ? null : correct / samples
  const { fail, note } = commonReasons(f.base, req)
  for (const r of results.filter((x) => !x.passed)) fail.push(`${r.deviceId}: accuracy ${r.accuracy} < minimum ${r.minAccuracy ?? '-'}`)
  if (accuracy !== null && minAccuracy !== null && accuracy < minAccuracy)
    fail.push(`overall accuracy ${round(accuracy)} < minimum ${minAccuracy}`)
  if (minAccuracy === null && results.length > 0) note.push('the model declares no minimum accuracy: reported, not judged')
  return {
    ...f.base,
    dataset: req.dataset,
    minAccuracy,
    overall: { samples, correct, accuracy: round(accuracy) },
    results,
    verdict: verdictOf(fail),
    reasons: [...fail, ...note],
  }
}

export interface ScenarioReport extends ReportBase {
  scenario: string
  results: {
    deviceId: string
    hardware: string
    model: string | null
    goldenChecked: boolean
    goldenVectors: number | null
    maxAbsError: number | null
    passed: boolean
    detail: string
  }[]
}

/**
 * `test --scenario end-to-end`: every device runs the model's golden inputs through its inference
 * path (the smoke suite of `verify`), and the controller checks the answers against the golden
 * vectors of the package it stores: same model version, every golden vector within tolerance.
 */
export async function scenario(ctx: RunbookContext, req: ScenarioRequest): Promise<ScenarioReport> {
  const f = await fanOut<VerifyResult>(ctx, 'test', req, { kind: 'verify', suite: 'smoke', samples: 1, expiresAt: 0 })
  const results = await Promise.all(
    f.ok.map(async ({ device, result }) => {
      const model = modelOf(device, result.modelVersion)
      const manifest = await manifestOf(ctx.models, model)
      const golden = result.checks.find((c) => c.name === 'golden')
      const err = golden?.observed ?? null
      const problems: string[] = []
      if (manifest === null) problems.push(`the controller has no package for ${model ?? 'the active model'}`)
      // The golden check also fails on latency alone; the scenario judges the outputs, and says when it was slow.
      const slowOnly = golden?.passed === false && (golden.detail ?? '').startsWith('golden latency')
      if (golden === undefined) problems.push('no golden check in the answer')
      else if (!golden.passed && !slowOnly) problems.push(golden.detail ?? `golden outputs off by ${err ?? '?'}`)
      if (manifest !== null && err !== null && err > manifest.tolerance) problems.push(`max error ${err} > tolerance ${manifest.tolerance}`)
      if (device.model !== null && model !== device.model) problems.push(`answered with ${model ?? '?'} but reports ${device.model}`)
      return {
        deviceId: device.id,
        hardware: device.hardware,
        model,
        goldenChecked: golden !== undefined,
        goldenVectors: manifest?.golden.length ?? null,
        maxAbsError: err,
        passed: problems.length === 0,
        detail:
          problems.length > 0
            ? problems.join('; ')
            : `golden vectors within ${manifest?.tolerance ?? '?'}${slowOnly ? ` (slow: ${golden.detail ?? ''})` : ''}`,
      }
    }),
  )
  const { fail, note } = commonReasons(f.base, req)
  for (const r of results.filter((x) => !x.passed)) fail.push(`${r.deviceId}: ${r.detail}`)
  return { ...f.base, scenario: req.scenario, results, verdict: verdictOf(fail), reasons: [...fail, ...note] }
}
