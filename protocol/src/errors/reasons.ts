import * as z from 'zod'

/**
 * The reason registry: why a device check or a runbook verdict came out as it did. Like error
 * codes, reason codes are stable wire values (never renamed or reused); a judgement is a code plus
 * structured values, and its sentence is rendered from the code's template — nothing decides on
 * text. `docs/errors.md` lists them (`npm run gen:docs`). Templates name values as `{key}`.
 */

/** Checks a device runs (`verify`): the outcome of one check. */
export const CHECK_REASONS = {
  CHECK_PASSED: '{check} {observed} within {threshold}',
  CHECK_GOLDEN_MISMATCH: 'golden outputs off by {maxAbsError} (tolerance {tolerance})',
  CHECK_GOLDEN_SHAPE: 'golden vector {index}: the output has {values} values, the package says {expected}',
  CHECK_GOLDEN_FAILED: 'golden vector {index} did not run: {error}',
  CHECK_GOLDEN_SLOW: 'golden outputs within tolerance, but the slowest took {latencyMs} ms, over the {thresholdMs} ms threshold',
  CHECK_OVER_LIMIT: '{check} {observed} over the limit {threshold}',
  CHECK_UNDER_LIMIT: '{check} {observed} under the minimum {threshold}',
  CHECK_NO_SENSOR: '{check} not measurable on this device (no sensor): unknown, not a pass',
  CHECK_OPTIONAL_UNKNOWN: '{check} not measurable on this device: unknown, accepted because the policy marks it optional for {hardware}',
  CHECK_NO_WORKLOAD: '{check} not measurable yet: no telemetry window with power from this device',
  CHECK_NO_BUDGET: 'the package sets no {check} budget: not judged',
  CHECK_REPORTED: '{check} {observed}: reported as information, not judged',
} as const

/** Runbook verdicts (`verify`, `profile`, `evaluate`, …): why a report passed or failed. */
export const VERDICT_REASONS = {
  VERDICT_UNREACHABLE: '{count} of {devices} devices unreachable: {list}',
  VERDICT_UNREACHABLE_ALLOWED: '{count} of {devices} devices unreachable: {list} — allowed',
  VERDICT_DEVICE_ERRORS: '{count} devices failed the command: {list}',
  VERDICT_NO_ANSWER: 'no device answered',
  VERDICT_CHECKS_FAILED: '{deviceId} failed {checks}: {details}',
  VERDICT_CHECKS_NOTED: '{deviceId}: {details}',
  VERDICT_ACCURACY_LOW: '{deviceId}: accuracy {accuracy} < minimum {minAccuracy}',
  VERDICT_OVERALL_ACCURACY_LOW: 'overall accuracy {accuracy} < minimum {minAccuracy}',
  VERDICT_NO_MIN_ACCURACY: 'the model declares no minimum accuracy: reported, not judged',
  VERDICT_LATENCY_OVER_BUDGET: '{deviceId} ({hardware}): p95 latency {value} ms over its {budget} ms threshold',
  VERDICT_POWER_BACK_TO_BACK:
    '{count} of {devices} {hardware} devices draw up to {value} mW while inferring back to back: over the {budget} mW budget, which is an average at their workload, so not judged',
  VERDICT_NOT_MEASURED: 'no {metric} measurement from {list} (no sensor)',
  VERDICT_OUTLIER: 'outlier: {deviceId} ({hardware}) {value} vs median {median} of its hardware class',
  VERDICT_REGRESSION: '{hardware} {metric}: {baseline} → {current} ({change})',
  VERDICT_NOTHING_COMPARED: 'no metric could be compared (no matching hardware class or no data)',
  VERDICT_DEVICES_REGRESSED: '{count} devices regressed by more than {tolerancePct}%: {list}',
  VERDICT_TOP_CLASS: '{hardware} explains {sharePct}% of the excess latency',
  VERDICT_LOW_FREE: '{deviceId}: only {freePct}% {metric} free',
  VERDICT_NO_PACKAGE: '{deviceId}: the controller has no package for {model}',
  VERDICT_GOLDEN_MISMATCH: '{deviceId}: golden outputs off by {maxAbsError} (tolerance {tolerance})',
  VERDICT_NO_GOLDEN_CHECK: '{deviceId}: no golden check in the answer',
  VERDICT_MODEL_MISMATCH: '{deviceId}: answered with {answered} but reports {reported}',
  VERDICT_GOLDEN_SLOW: '{deviceId}: golden outputs right but slow ({latencyMs} ms over {thresholdMs} ms): reported, not failed',
  VERDICT_HEALTH_PROBLEMS: '{deviceId}: {details}',
  VERDICT_SILENT: 'no telemetry in the window from {list}: error rate, temperature and memory unknown (not counted as healthy)',
  VERDICT_VERSION_MIX: 'version mix: {list}',
  VERDICT_CANCELLED: 'cancelled after {elapsedMs} ms: the figures cover what the devices measured until then',
} as const

/** A device's health problems (`health`), one per problem. */
export const HEALTH_REASONS = {
  HEALTH_OFFLINE: 'offline',
  HEALTH_UNKNOWN: 'never heard from',
  HEALTH_STALE: 'not heard from for {ageS} s',
  HEALTH_ERROR_RATE: 'error rate {errorRatePct}% > {maxPct}%',
  HEALTH_TEMPERATURE: 'temperature {temperatureC} °C > {maxC} °C',
  HEALTH_MEMORY: 'memory {memoryPct}% > {maxPct}%',
  HEALTH_PHASE: 'phase {phase}',
} as const

export const REASON_TEMPLATES = { ...CHECK_REASONS, ...VERDICT_REASONS, ...HEALTH_REASONS }
const REASON_LIST = Object.keys(REASON_TEMPLATES) as [ReasonCode, ...ReasonCode[]]
export type ReasonCode = keyof typeof REASON_TEMPLATES

/** Every reason code this protocol version defines. */
export const ReasonCodeSchema = z.enum(REASON_LIST)

/** A value a reason carries: numbers, names, lists of names. */
export const ReasonValueSchema = z.union([z.number(), z.string().max(2048), z.boolean(), z.null(), z.array(z.string().max(256)).max(1000)])
export type ReasonValue = z.infer<typeof ReasonValueSchema>
export type ReasonValues = Record<string, ReasonValue>

/** Reason codes on the wire: a reader accepts codes it does not know (a newer peer) and renders them plainly. */
export const WireReasonCodeSchema = z
  .string()
  .regex(/^[A-Z][A-Z0-9_]{2,63}$/)
  .describe('Stable reason code from docs/errors.md (SCREAMING_SNAKE); judge on it, never on the text.')

export const ReasonValuesSchema = z
  .record(z.string().max(64), ReasonValueSchema)
  .describe('The figures behind the reason (units in the key names: ms, mW, Pct), from which its text is rendered.')

/** One reason of a runbook verdict. */
export const ReasonSchema = z
  .object({
    code: WireReasonCodeSchema,
    severity: z.enum(['fail', 'note']).describe('fail: the reason fails the verdict; note: information only.'),
    deviceId: z.string().max(64).optional().describe('The device the reason is about, when it is about one.'),
    values: ReasonValuesSchema,
    text: z.string().max(8192).describe("The reason as a sentence, rendered from the code's template; never parse it."),
  })
  .describe('Why a verdict is what it is: a code, whether it fails the verdict, and its figures.')
export type Reason = z.output<typeof ReasonSchema>

function format(v: ReasonValue | undefined): string {
  if (v === undefined || v === null) return '-'
  if (typeof v === 'number') return Number.isFinite(v) ? String(Math.abs(v) >= 1000 ? Math.round(v) : Number(v.toPrecision(4))) : String(v)
  if (Array.isArray(v)) return v.join(', ')
  return String(v)
}

/** The sentence of a reason, from its code's template and values. An unknown code shows as code and values. */
export function renderReason(code: string, values: ReasonValues = {}): string {
  const template = (REASON_TEMPLATES as Record<string, string | undefined>)[code]
  if (template === undefined) {
    const shown = Object.entries(values).map(([k, v]) => `${k}=${format(v)}`)
    return shown.length === 0 ? code : `${code} (${shown.join(', ')})`
  }
  return template.replace(/\{([A-Za-z0-9_]+)\}/g, (_, key: string) => format(values[key]))
}

/** A reason with its text rendered. */
export function reason(code: ReasonCode, severity: Reason['severity'], values: ReasonValues = {}, deviceId?: string): Reason {
  const text = renderReason(code, deviceId === undefined ? values : { deviceId, ...values })
  return { code, severity, ...(deviceId === undefined ? {} : { deviceId }), values, text }
}
