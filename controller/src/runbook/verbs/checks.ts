import { renderReason, type CommandResult } from '@liquid-edge/protocol'
import { commonReasons, Reasons, type ReportBase } from '../report.js'
import type { EvaluateRequest, ScenarioRequest, VerifyRequest } from '../requests.js'
import { round } from '../stats.js'
import { fanOut, manifestOf, modelOf, type RunbookContext } from './context.js'
import { measureMs } from './profile.js'

type VerifyResult = Extract<CommandResult, { kind: 'verify' }>
type EvaluateResult = Extract<CommandResult, { kind: 'evaluate' }>
type Check = VerifyResult['checks'][number]

export interface VerifyReport extends ReportBase {
  suite: string
  results: { deviceId: string; hardware: string; modelVersion: string; passed: boolean; checks: VerifyResult['checks'] }[]
  passed: number
  failed: number
}

/** A check's sentence: rendered here from its code and values (an older agent's own detail otherwise). */
function checkText(c: Check): string {
  return c.code === undefined ? (c.detail ?? c.name) : renderReason(c.code, c.values ?? {})
}

/** `verify`: the agents run a suite; pass only when every reachable device passed (and none is unreachable, unless allowed). */
export async function verify(ctx: RunbookContext, req: VerifyRequest): Promise<VerifyReport> {
  const timeoutMs = req.suite === 'smoke' ? req.timeoutMs : Math.max(req.timeoutMs, measureMs({ samples: req.samples }) + 10_000)
  const f = await fanOut<VerifyResult>(
    ctx,
    'verify',
    { ...req, timeoutMs },
    {
      kind: 'verify',
      suite: req.suite,
      samples: req.samples,
      dutyCycle: req.dutyCycle,
      ...(req.minAgreement === undefined ? {} : { minAgreement: req.minAgreement }),
      expiresAt: 0,
    },
  )
  const results = f.ok.map(({ device, result }) => ({
    deviceId: device.id,
    hardware: device.hardware,
    modelVersion: result.modelVersion,
    passed: result.checks.every((c) => c.passed),
    checks: result.checks,
  }))
  const reasons = commonReasons(f.base, req)
  for (const r of results) {
    const failed = r.checks.filter((c) => !c.passed)
    const codes = failed.map((c) => c.code ?? 'CHECK_FAILED')
    if (failed.length > 0)
      reasons.fail('VERDICT_CHECKS_FAILED', { checks: failed.map((c) => c.name), codes, details: failed.map(checkText) }, r.deviceId)
    const noted = r.checks.filter((c) => c.passed && c.code === 'CHECK_REPORTED')
    if (noted.length > 0)
      reasons.note('VERDICT_CHECKS_NOTED', { checks: noted.map((c) => c.name), details: noted.map(checkText) }, r.deviceId)
  }
  return {
    ...f.base,
    suite: req.suite,
    results,
    passed: results.filter((r) => r.passed).length,
    failed: results.filter((r) => !r.passed).length + f.base.errors.length,
    ...reasons.judgement(),
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
  const f = await fanOut<EvaluateResult>(ctx, 'evaluate', req, {
    kind: 'evaluate',
    dataset: req.dataset,
    dutyCycle: req.dutyCycle,
    expiresAt: 0,
  })
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
  const reasons = commonReasons(f.base, req)
  for (const r of results.filter((x) => !x.passed))
    reasons.fail('VERDICT_ACCURACY_LOW', { accuracy: r.accuracy, minAccuracy: r.minAccuracy, samples: r.samples }, r.deviceId)
  if (accuracy !== null && minAccuracy !== null && accuracy < minAccuracy)
    reasons.fail('VERDICT_OVERALL_ACCURACY_LOW', { accuracy: round(accuracy), minAccuracy, samples })
  if (minAccuracy === null && results.length > 0) reasons.note('VERDICT_NO_MIN_ACCURACY')
  return {
    ...f.base,
    dataset: req.dataset,
    minAccuracy,
    overall: { samples, correct, accuracy: round(accuracy) },
    results,
    ...reasons.judgement(),
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
  const reasons = commonReasons(f.base, req)
  const results = await Promise.all(
    f.ok.map(async ({ device, result }) => {
      const model = modelOf(device, result.modelVersion)
      const manifest = await manifestOf(ctx.models, model)
      const golden = result.checks.find((c) => c.name === 'golden')
      const err = golden?.observed ?? null
      const own = new Reasons()
      if (manifest === null) own.fail('VERDICT_NO_PACKAGE', { model: model ?? 'the active model' }, device.id)
      const tolerance = manifest?.tolerance ?? null
      // The golden check also fails on latency alone: the scenario judges outputs, and notes the slowness.
      const slow = golden?.code === 'CHECK_GOLDEN_SLOW'
      if (golden === undefined) own.fail('VERDICT_NO_GOLDEN_CHECK', {}, device.id)
      else if (!golden.passed && !slow)
        own.fail('VERDICT_GOLDEN_MISMATCH', { maxAbsError: err, tolerance, check: golden.code ?? null }, device.id)
      else if (tolerance !== null && err !== null && err > tolerance)
        own.fail('VERDICT_GOLDEN_MISMATCH', { maxAbsError: err, tolerance }, device.id)
      if (slow) own.note('VERDICT_GOLDEN_SLOW', golden.values ?? {}, device.id)
      if (device.model !== null && model !== device.model)
        own.fail('VERDICT_MODEL_MISMATCH', { answered: model ?? '-', reported: device.model }, device.id)
      return {
        deviceId: device.id,
        hardware: device.hardware,
        model,
        goldenChecked: golden !== undefined,
        goldenVectors: manifest?.golden.length ?? null,
        maxAbsError: err,
        passed: own.verdict === 'pass',
        detail: own.list.length > 0 ? own.list.map((r) => r.text).join('; ') : `golden vectors within ${manifest?.tolerance ?? '?'}`,
        own,
      }
    }),
  )
  for (const r of results) reasons.add(r.own.list)
  return { ...f.base, scenario: req.scenario, results: results.map(({ own: _own, ...r }) => r), ...reasons.judgement() }
}
