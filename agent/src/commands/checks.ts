import {
  budgetFor,
  isOptional,
  renderReason,
  type Budget,
  type CommandResult,
  type PackageManifest,
  type ReasonCode,
  type ReasonValues,
  type TelemetryBody,
} from '@liquid-edge/protocol'
import type { GoldenCheck } from '../update/slots.js'

/** One check of a verify suite: a reason code and its values; `detail` is rendered from them. */
export type Check = Extract<CommandResult, { kind: 'verify' }>['checks'][number]

function check(name: string, passed: boolean, code: ReasonCode, values: ReasonValues): Check {
  const observed = typeof values.observed === 'number' ? values.observed : null
  const threshold = typeof values.threshold === 'number' ? values.threshold : null
  return { name, passed, observed, threshold, code, values, detail: renderReason(code, values) }
}

/** The budgets this device is judged by: the package's for its own hardware class. */
export function budgetsOf(manifest: PackageManifest, hardware: string): Budget {
  return budgetFor(manifest, hardware)
}

export function goldenCheck(g: GoldenCheck, tolerance: number): Check {
  return { ...check('golden', g.passed, g.code, g.values), observed: g.maxAbsError, threshold: tolerance }
}

/** `observed` must not exceed `threshold`; nothing observed is unknown, never a pass. */
export function limitCheck(name: string, observed: number | null, threshold: number): Check {
  if (observed === null) return check(name, false, 'CHECK_NO_SENSOR', { check: name, threshold })
  const values = { check: name, observed, threshold }
  return observed <= threshold ? check(name, true, 'CHECK_PASSED', values) : check(name, false, 'CHECK_OVER_LIMIT', values)
}

/**
 * The energy budget is the average power at the device's own workload, not the draw during
 * back-to-back inference. Project it from the last telemetry window — its average power, its
 * inference rate and the energy per inference of what ran — by swapping in the energy per
 * inference measured for the model under test. `null` when the window has no power in it.
 */
function projectedPowerMw(window: TelemetryBody, targetMj: number | null, sameModel: boolean): number | null {
  if (window.energy === null) return null
  const { avgMw, perInferenceMj } = window.energy
  const ratePerS = window.inferences / (window.windowMs / 1000)
  if (ratePerS === 0 || sameModel) return avgMw
  if (targetMj === null || perInferenceMj === null) return null
  return Math.max(0, avgMw + ratePerS * (targetMj - perInferenceMj))
}

/**
 * Average power at this device's workload (`workload`: the last telemetry window before the
 * measurement, whose own inferences would inflate it) against its class's energy budget; unknown
 * power fails (unknown is not healthy) unless the policy marks energy optional for the class.
 */
export function energyCheck(workload: TelemetryBody | null, manifest: PackageManifest, budgets: Budget, targetMj: number | null): Check {
  const budget = budgets.energyBudgetMw
  if (budget === null) return check('energy', true, 'CHECK_NO_BUDGET', { check: 'energy' })
  const unknown = unknownEnergy(budgets, budget)
  if (unknown !== null && workload?.energy == null && targetMj === null) return unknown
  const window = workload
  if (window === null) return check('energy', false, 'CHECK_NO_WORKLOAD', { check: 'energy', threshold: budget })
  const sameModel = window.model?.name === manifest.name && window.model.version === manifest.version
  const observed = projectedPowerMw(window, targetMj, sameModel)
  if (observed === null) {
    const code = window.energy === null && targetMj === null ? 'CHECK_NO_SENSOR' : 'CHECK_NO_WORKLOAD'
    return check('energy', false, code, { check: 'energy', threshold: budget })
  }
  const rate = window.inferences / (window.windowMs / 1000)
  const values = { check: 'energy', observed, threshold: budget, ratePerS: rate }
  return observed <= budget ? check('energy', true, 'CHECK_PASSED', values) : check('energy', false, 'CHECK_OVER_LIMIT', values)
}

/** Energy this device cannot measure: accepted only where its class marks energy optional. */
function unknownEnergy(budgets: Budget, budget: number): Check | null {
  if (!isOptional(budgets, 'energy')) return null
  return check('energy', true, 'CHECK_OPTIONAL_UNKNOWN', { check: 'energy', threshold: budget, hardware: budgets.hardwareClass })
}

/** Agreement of a staged candidate with the active model: judged only when a minimum was asked for. */
export function agreementCheck(ratio: number, minAgreement: number | null): Check {
  if (minAgreement === null) return check('agreement-with-active', true, 'CHECK_REPORTED', { check: 'agreement', observed: ratio })
  const values = { check: 'agreement', observed: ratio, threshold: minAgreement }
  return ratio >= minAgreement
    ? check('agreement-with-active', true, 'CHECK_PASSED', values)
    : check('agreement-with-active', false, 'CHECK_UNDER_LIMIT', values)
}
